import { execFile } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { access, constants, readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';

/** One measurement of this process and its descendants (the ffmpeg children), and of the machine. */
export interface SystemSample {
  /** CPU of this process plus descendants as a share of the whole machine: 0–100 across all cores. */
  cpuPercent: number;
  /** The same CPU time in the top/Go convention: 100 = one full core (may exceed 100). */
  cpuCorePercent: number;
  /** CPU of the whole machine (every process), 0–100, from `/proc/stat`; undefined without procfs. */
  machineCpuPercent: number | undefined;
  /** Resident memory of this process plus descendants, in MiB. */
  memoryMb: number;
  /**
   * GPU utilisation, 0–100, mean over the GPUs found: nvidia-smi's `utilization.gpu`, or sysfs
   * `gpu_busy_percent`; 0 when none can be read.
   */
  gpuPercent: number;
  /** Video encoder (NVENC) utilisation, 0–100, mean over the GPUs that report it; undefined when none does. */
  gpuEncoderPercent: number | undefined;
  /** Video decoder (NVDEC) utilisation, 0–100, as above. */
  gpuDecoderPercent: number | undefined;
  /** This process plus its live descendants. */
  processes: number;
}

/** A sample before anything was measured: every figure 0, nothing reported. */
export const EMPTY_SAMPLE: Readonly<SystemSample> = Object.freeze({
  cpuPercent: 0,
  cpuCorePercent: 0,
  machineCpuPercent: undefined,
  memoryMb: 0,
  gpuPercent: 0,
  gpuEncoderPercent: undefined,
  gpuDecoderPercent: undefined,
  processes: 0,
});

/**
 * Cumulative counters read at one instant. CPU figures are the difference of
 * two readings ({@link cpuBetween}), so any two readings make an interval and
 * reading never disturbs anyone else's interval.
 */
export interface SystemReading {
  /** When it was read, in seconds on a monotonic clock (procfs: uptime). */
  atS: number;
  /** When this process started, on the same clock (the interval of a reading with nothing before it). */
  startS: number;
  /** CPU seconds used so far by each process of the tree, keyed `pid:start` so a reused pid is a new process. */
  cpuS: ReadonlyMap<string, number>;
  /** The machine's `/proc/stat` cpu line: busy and total ticks since boot; undefined without procfs. */
  machine: MachineCpu | undefined;
  /** Resident memory of the tree, in bytes. */
  rssBytes: number;
  processes: number;
}

/** Busy and total ticks of every CPU since boot (proc(5), `/proc/stat`). */
export interface MachineCpu {
  busy: number;
  total: number;
}

/** GPU utilisation as the driver reports it, each figure a mean over the GPUs that report it. */
export interface GpuReading {
  gpuPercent: number | undefined;
  encoderPercent: number | undefined;
  decoderPercent: number | undefined;
}

/**
 * Parses the aggregate `cpu` line of `/proc/stat` (proc(5)): user nice system
 * idle iowait irq softirq steal (guest and guest_nice are already inside user
 * and nice, so they are not added again). Busy is total less idle and iowait.
 */
export function parseMachineCpu(text: string): MachineCpu | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || !f.every(Number.isSafeInteger)) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

/**
 * CPU between two readings: `cpuCorePercent` (100 = one core) for the tree,
 * `cpuPercent` the same normalised to `cores` and capped at 100, and the whole
 * machine's busy share. With no older reading the interval starts when this
 * process did (tree) and at boot (machine). A process not in the older reading
 * counts all its CPU (it started inside the interval); one gone from the newer
 * reading counts nothing (its last ticks are lost: see {@link SystemMonitor}).
 */
export function cpuBetween(
  older: SystemReading | undefined,
  newer: SystemReading,
  cores: number,
): { cpuPercent: number; cpuCorePercent: number; machineCpuPercent: number | undefined } {
  const elapsedS = newer.atS - (older?.atS ?? newer.startS);
  let usedS = 0;
  for (const [id, seconds] of newer.cpuS) usedS += Math.max(0, seconds - (older?.cpuS.get(id) ?? 0));
  const cpuCorePercent = elapsedS > 0 ? (usedS / elapsedS) * 100 : 0;
  let machineCpuPercent: number | undefined;
  if (newer.machine !== undefined) {
    const busy = newer.machine.busy - (older?.machine?.busy ?? 0);
    const total = newer.machine.total - (older?.machine?.total ?? 0);
    machineCpuPercent = total > 0 ? Math.min(100, Math.max(0, (busy / total) * 100)) : 0;
  }
  return { cpuPercent: Math.min(100, cpuCorePercent / Math.max(1, cores)), cpuCorePercent, machineCpuPercent };
}

/**
 * Parses `nvidia-smi --query-gpu=utilization.gpu,utilization.encoder,utilization.decoder
 * --format=csv,noheader,nounits` (one line per GPU; fields a GPU or MIG
 * instance does not report read `[N/A]` or `[Not Supported]` and are skipped).
 * A line with only the first column (the older query) gives the GPU figure alone.
 */
export function parseNvidiaSmi(stdout: string): GpuReading {
  const columns: number[][] = [[], [], []];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    line.split(',').slice(0, 3).forEach((field, i) => {
      const value = Number.parseFloat(field.trim());
      if (Number.isFinite(value)) columns[i]!.push(value);
    });
  }
  return { gpuPercent: mean(columns[0]!), encoderPercent: mean(columns[1]!), decoderPercent: mean(columns[2]!) };
}

/** SystemMonitor options; the roots exist so that tests can point at fake trees. */
export interface SystemMonitorOptions {
  /** Default `/proc`. */
  procRoot?: string;
  /** nvidia-smi binary (name looked up on PATH, or a path), or `false` to never run it. Default `nvidia-smi`. */
  nvidiaSmi?: string | false;
  /**
   * Where the NVIDIA driver lists its GPUs; nvidia-smi runs only when this holds an entry.
   * Default `<procRoot>/driver/nvidia/gpus`; `false` skips the check (tests with a fake nvidia-smi).
   */
  nvidiaDriverDir?: string | false;
  /** Default `/sys/class/drm`; `false` skips the sysfs GPU figures. */
  drmRoot?: string | false;
  /** Wall clock in ms; used only by the non-Linux fallback. Default `Date.now`. */
  now?: () => number;
  /** Root of the process tree to measure. Default `process.pid`. */
  pid?: number;
  /** Cores `cpuPercent` is normalised by. Default `os.availableParallelism()`. */
  cores?: number;
  /** Bytes per page for statm. Default: AT_PAGESZ from `/proc/<pid>/auxv`, else `getconf PAGESIZE`, else 4096. */
  pageSize?: number;
  /** USER_HZ, the unit of the stat CPU fields. Default: AT_CLKTCK from `/proc/<pid>/auxv`, else `getconf CLK_TCK`, else 100. */
  clockTicks?: number;
}

/** The fields of `/proc/<pid>/stat` the monitor uses (proc(5)). */
export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, in clock ticks (fields 14 and 15). */
  cpuTicks: number;
  /** Start time after boot, in clock ticks (field 22). */
  startTicks: number;
}

/**
 * Parses one `/proc/<pid>/stat` line (proc(5)). The comm field (2) is
 * parenthesised and may itself hold spaces and parentheses, so the fixed
 * fields are counted from the last `)`. Returns undefined for a malformed line.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // rest[0] is field 3 (state): field n is rest[n - 3].
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const start = Number(rest[19]);
  if (![pid, ppid, utime, stime, start].every(Number.isSafeInteger)) return undefined;
  return { pid, comm: text.slice(open + 1, close), ppid, cpuTicks: utime + stime, startTicks: start };
}

/** Runs a command: resolves its stdout, or the error code (ENOENT, ETIMEDOUT…) when it failed; never rejects. */
function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout?: string; code?: string | number }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', windowsHide: true }, (err, stdout) => {
      if (err === null) resolve({ stdout });
      else resolve({ code: (err as NodeJS.ErrnoException).code ?? 'failed' });
    });
  });
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Bytes read from a procfs file: every file the monitor reads fits (of a long /proc/stat only the first line is used). */
const PROC_READ_BYTES = 65536;
/** At most this many procfs files stay open between readings (far below any fd limit). */
const MAX_OPEN_PROC_FILES = 64;

/**
 * Reads small procfs files inline, keeping each open between readings and
 * re-reading it with pread at offset 0 (procfs regenerates the text on every
 * read from the start). A reading then costs one syscall per file instead of
 * open, fstat, read, read and close, and no buffer per file; procfs reads do
 * not block on a disk. A file that fails (its process or thread exited) is
 * closed; files not read in a whole reading are closed by {@link sweep}.
 */
export class ProcFiles {
  readonly #open = new Map<string, { fd: number; used: boolean }>();
  readonly #buffer = Buffer.allocUnsafe(PROC_READ_BYTES);

  /** The file's text (at most the first 64 KiB), or undefined when it cannot be read. */
  read(path: string, retry = true): string | undefined {
    let file = this.#open.get(path);
    if (file === undefined) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch {
        return undefined;
      }
      if (this.#open.size >= MAX_OPEN_PROC_FILES) return this.#readOnce(fd);
      file = { fd, used: true };
      this.#open.set(path, file);
    }
    file.used = true;
    try {
      const n = readSync(file.fd, this.#buffer, 0, PROC_READ_BYTES, 0);
      return this.#buffer.toString('utf8', 0, n);
    } catch {
      // The process behind the open file is gone (ESRCH); the path may name a new one now.
      this.#close(path, file.fd);
      if (retry) return this.read(path, false);
      return undefined;
    }
  }

  /** Closes the files not read since the last sweep (threads and processes that are gone). */
  sweep(): void {
    for (const [path, file] of this.#open) {
      if (file.used) file.used = false;
      else this.#close(path, file.fd);
    }
  }

  /** Closes every file. */
  closeAll(): void {
    for (const [path, file] of this.#open) this.#close(path, file.fd);
  }

  /** Number of files held open. */
  get size(): number {
    return this.#open.size;
  }

  #readOnce(fd: number): string | undefined {
    try {
      const n = readSync(fd, this.#buffer, 0, PROC_READ_BYTES, 0);
      return this.#buffer.toString('utf8', 0, n);
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  #close(path: string, fd: number): void {
    this.#open.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already gone
    }
  }
}

/** getauxval(3) keys: the page size and USER_HZ, what `getconf PAGESIZE` and `getconf CLK_TCK` print (glibc reads them there). */
const AT_PAGESZ = 6;
const AT_CLKTCK = 17;

/**
 * Page size and clock ticks from `/proc/<pid>/auxv`, the auxiliary vector the
 * kernel handed the process (proc(5)): (type, value) pairs of native words up
 * to AT_NULL. Reading it costs a file read where `getconf` costs two process
 * spawns before the server can listen. A field absent or zero is undefined.
 */
export function parseAuxv(bytes: Buffer, wordBytes: 4 | 8): { pageSize: number | undefined; clockTicks: number | undefined } {
  let pageSize: number | undefined;
  let clockTicks: number | undefined;
  for (let at = 0; at + 2 * wordBytes <= bytes.length; at += 2 * wordBytes) {
    const type = wordBytes === 8 ? Number(bytes.readBigUInt64LE(at)) : bytes.readUInt32LE(at);
    const value = wordBytes === 8 ? Number(bytes.readBigUInt64LE(at + 8)) : bytes.readUInt32LE(at + 4);
    if (type === 0) break;
    if (type === AT_PAGESZ && value > 0) pageSize = value;
    if (type === AT_CLKTCK && value > 0) clockTicks = value;
  }
  return { pageSize, clockTicks };
}

/** Native word size of this process's auxv (64-bit Node platforms; little-endian ones, as parseAuxv reads). */
const AUXV_WORD: 4 | 8 | undefined = ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64'].includes(process.arch) ? 8 : ['ia32', 'arm'].includes(process.arch) ? 4 : undefined;

async function getconf(name: string, fallback: number): Promise<number> {
  const { stdout } = await run('getconf', [name], 2000);
  const value = Number(stdout?.trim());
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

/** True when `binary` (a path, or a name searched on PATH) is an executable file. */
async function findExecutable(binary: string): Promise<boolean> {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, binary));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}

function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

const NVIDIA_SMI_FULL = ['--query-gpu=utilization.gpu,utilization.encoder,utilization.decoder', '--format=csv,noheader,nounits'];
const NVIDIA_SMI_GPU_ONLY = ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'];
const NVIDIA_SMI_TIMEOUT_MS = 2000;
const MIB = 1024 * 1024;

/**
 * Reads CPU, memory and GPU for this process and every descendant (the
 * ffmpeg children), from procfs on Linux.
 *
 * {@link read} gives cumulative counters and {@link cpuBetween} turns two of
 * them into CPU figures; {@link readGpu} runs nvidia-smi or reads sysfs. The
 * server calls both from one {@link SystemSampler} (./sampler.ts) on a timer,
 * never from a request.
 *
 * CPU is the utime+stime of each process in the tree, diffed per process
 * (pid + start time, so a reused pid is not mistaken for an old one). CPU
 * spent by a child that exited between two readings is lost: its ticks go to
 * the parent's cutime only when reaped, which this does not count, as cutime
 * would also include children that ended before the older reading.
 *
 * GPU: nvidia-smi when the binary exists and the driver lists a GPU (both
 * checked once), asking for the encoder and decoder utilisation too (older
 * drivers that refuse those fields get the GPU figure alone); else
 * `gpu_busy_percent` in sysfs (amdgpu, Intel xe); else nothing.
 *
 * Without procfs (macOS, Windows) only this process is measured, through
 * process.cpuUsage() and process.memoryUsage().
 */
export class SystemMonitor {
  readonly #procRoot: string;
  readonly #drmRoot: string | false;
  readonly #nvidiaDriverDir: string | false;
  readonly #now: () => number;
  readonly #pid: number;
  readonly cores: number;
  #nvidiaSmi: string | false;
  #nvidiaChecked = false;
  #nvidiaArgs = NVIDIA_SMI_FULL;
  #pageSize: number | undefined;
  #clockTicks: number | undefined;
  #procfs: boolean | undefined;
  #inFlight: Promise<SystemSample> | undefined;
  readonly #files = new ProcFiles();
  #previous: SystemReading | undefined;

  constructor(options: SystemMonitorOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#drmRoot = options.drmRoot ?? '/sys/class/drm';
    this.#nvidiaSmi = options.nvidiaSmi ?? 'nvidia-smi';
    this.#nvidiaDriverDir = options.nvidiaDriverDir ?? join(this.#procRoot, 'driver', 'nvidia', 'gpus');
    this.#now = options.now ?? Date.now;
    this.#pid = options.pid ?? process.pid;
    this.cores = Math.max(1, options.cores ?? availableParallelism());
    this.#pageSize = options.pageSize;
    this.#clockTicks = options.clockTicks;
  }

  /**
   * One-off measurement: CPU since the previous call of this method (since
   * start for the first), memory now, and the GPU, which may spawn
   * nvidia-smi. Concurrent calls share one measurement. The server does not
   * use this on requests: it reads a {@link SystemSampler}'s latest sample.
   */
  sample(): Promise<SystemSample> {
    this.#inFlight ??= this.#sample().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #sample(): Promise<SystemSample> {
    const [reading, gpu] = await Promise.all([this.read(), this.readGpu()]);
    const cpu = cpuBetween(this.#previous, reading, this.cores);
    this.#previous = reading;
    return sampleOf(cpu, reading, gpu);
  }

  /** Cumulative CPU counters and current memory of the tree and the machine; walks `/proc` once. */
  async read(): Promise<SystemReading> {
    if (this.#procfs === undefined) {
      this.#procfs = (await readText(join(this.#procRoot, String(this.#pid), 'stat'))) !== undefined;
    }
    return this.#procfs ? this.#fromProcfs() : this.#fromProcess();
  }

  #fromProcess(): SystemReading {
    const atS = this.#now() / 1000;
    const usage = process.cpuUsage();
    return {
      atS,
      startS: atS - process.uptime(),
      cpuS: new Map([['self', (usage.user + usage.system) / 1e6]]),
      machine: undefined,
      rssBytes: process.memoryUsage().rss,
      processes: 1,
    };
  }

  async #fromProcfs(): Promise<SystemReading> {
    if ((this.#pageSize === undefined || this.#clockTicks === undefined) && AUXV_WORD !== undefined) {
      try {
        const aux = parseAuxv(readFileSync(join(this.#procRoot, String(this.#pid), 'auxv')), AUXV_WORD);
        this.#pageSize ??= aux.pageSize;
        this.#clockTicks ??= aux.clockTicks;
      } catch {
        // not readable: getconf below
      }
    }
    this.#pageSize ??= await getconf('PAGESIZE', 4096);
    this.#clockTicks ??= await getconf('CLK_TCK', 100);
    const hz = this.#clockTicks;
    const files = this.#files;
    const uptimeText = files.read(join(this.#procRoot, 'uptime'));
    const statText = files.read(join(this.#procRoot, 'stat'));
    const uptime = Number(uptimeText?.split(/\s+/)[0]);

    const tree = this.#childrenTree() ?? (await this.#processTree());
    const statms = tree.map((p) => files.read(join(this.#procRoot, String(p.pid), 'statm')));
    files.sweep();
    let rssPages = 0;
    for (const statm of statms) {
      const resident = Number(statm?.split(/\s+/)[1]);
      if (Number.isSafeInteger(resident)) rssPages += resident;
    }
    const cpuS = new Map<string, number>();
    for (const p of tree) cpuS.set(`${p.pid}:${p.startTicks}`, p.cpuTicks / hz);
    const self = tree[0];
    const atS = Number.isFinite(uptime) ? uptime : 0;
    return {
      atS,
      // Without our own stat line no interval can be measured: a zero-length one gives 0.
      startS: self === undefined ? atS : self.startTicks / hz,
      cpuS,
      machine: statText === undefined ? undefined : parseMachineCpu(statText),
      rssBytes: rssPages * this.#pageSize,
      processes: tree.length,
    };
  }

  /**
   * This process first, then its descendants, found through each thread's
   * `/proc/<pid>/task/<tid>/children` (proc(5); kernels with
   * CONFIG_PROC_CHILDREN): a few dozen small files instead of every process
   * on the machine. Undefined where our own thread lacks that file; then
   * {@link #processTree} walks all of `/proc`.
   */
  #childrenTree(): ProcStat[] | undefined {
    const root = this.#procRoot;
    const files = this.#files;
    const ownChildren = files.read(join(root, String(this.#pid), 'task', String(this.#pid), 'children'));
    const selfText = files.read(join(root, String(this.#pid), 'stat'));
    const self = selfText === undefined ? undefined : parseProcStat(selfText);
    if (ownChildren === undefined || self === undefined) return undefined;
    const tree = [self];
    const seen = new Set([self.pid]);
    for (let i = 0; i < tree.length; i++) {
      const pid = String(tree[i]!.pid);
      let tasks: string[];
      try {
        tasks = readdirSync(join(root, pid, 'task'));
      } catch {
        continue; // it exited
      }
      for (const task of tasks) {
        const listed = files.read(join(root, pid, 'task', task, 'children'));
        for (const child of listed?.split(' ') ?? []) {
          const childPid = Number(child);
          if (child === '' || !Number.isSafeInteger(childPid) || seen.has(childPid)) continue;
          seen.add(childPid);
          const text = files.read(join(root, child, 'stat'));
          const stat = text === undefined ? undefined : parseProcStat(text);
          if (stat !== undefined) tree.push(stat);
        }
      }
    }
    return tree;
  }

  /** This process first, then its descendants (walking ppid over every `/proc/<pid>/stat`). */
  async #processTree(): Promise<ProcStat[]> {
    let names: string[];
    try {
      names = await readdir(this.#procRoot);
    } catch {
      return [];
    }
    const stats = await Promise.all(
      names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
        // A process may exit between readdir and read: skip it.
        const text = await readText(join(this.#procRoot, n, 'stat'));
        return text === undefined ? undefined : parseProcStat(text);
      }),
    );
    const children = new Map<number, ProcStat[]>();
    let self: ProcStat | undefined;
    for (const s of stats) {
      if (s === undefined) continue;
      if (s.pid === this.#pid) self = s;
      const siblings = children.get(s.ppid);
      if (siblings === undefined) children.set(s.ppid, [s]);
      else siblings.push(s);
    }
    if (self === undefined) return [];
    const tree = [self];
    const seen = new Set([self.pid]);
    for (let i = 0; i < tree.length; i++) {
      for (const child of children.get(tree[i]!.pid) ?? []) {
        if (seen.has(child.pid)) continue;
        seen.add(child.pid);
        tree.push(child);
      }
    }
    return tree;
  }

  /** GPU utilisation: nvidia-smi (may spawn it, up to 2 s), else sysfs, else nothing reported. */
  async readGpu(): Promise<GpuReading> {
    const nvidia = await this.#nvidia();
    if (nvidia !== undefined && nvidia.gpuPercent !== undefined) return nvidia;
    return { gpuPercent: await this.#sysfsGpu(), encoderPercent: undefined, decoderPercent: undefined };
  }

  /** True when nvidia-smi may run: checked once (binary on PATH, and a GPU in the driver's list). */
  async #nvidiaPresent(): Promise<boolean> {
    if (this.#nvidiaSmi === false) return false;
    if (this.#nvidiaChecked) return true;
    this.#nvidiaChecked = true;
    const gpus = this.#nvidiaDriverDir === false ? true : (await readdir(this.#nvidiaDriverDir).catch(() => [])).length > 0;
    if (!gpus || !(await findExecutable(this.#nvidiaSmi))) {
      this.#nvidiaSmi = false;
      return false;
    }
    return true;
  }

  async #nvidia(): Promise<GpuReading | undefined> {
    if (!(await this.#nvidiaPresent()) || this.#nvidiaSmi === false) return undefined;
    let { stdout, code } = await run(this.#nvidiaSmi, this.#nvidiaArgs, NVIDIA_SMI_TIMEOUT_MS);
    if (code === 'ENOENT') this.#nvidiaSmi = false;
    else if (stdout === undefined && this.#nvidiaArgs === NVIDIA_SMI_FULL && code !== 'ETIMEDOUT') {
      // A driver that does not know utilization.encoder/decoder rejects the whole query.
      this.#nvidiaArgs = NVIDIA_SMI_GPU_ONLY;
      ({ stdout, code } = await run(this.#nvidiaSmi, this.#nvidiaArgs, NVIDIA_SMI_TIMEOUT_MS));
    }
    return stdout === undefined ? undefined : parseNvidiaSmi(stdout);
  }

  async #sysfsGpu(): Promise<number | undefined> {
    if (this.#drmRoot === false) return undefined;
    let cards: string[];
    try {
      cards = (await readdir(this.#drmRoot)).filter((n) => /^card\d+$/.test(n));
    } catch {
      return undefined;
    }
    const texts = await Promise.all(cards.map((c) => readText(join(this.#drmRoot as string, c, 'device', 'gpu_busy_percent'))));
    const values = texts
      .filter((t): t is string => t !== undefined && t.trim() !== '')
      .map((t) => Number(t.trim()))
      .filter((v) => Number.isFinite(v));
    return mean(values);
  }
}

/** A SystemSample from CPU figures, the newest reading and the latest GPU reading. */
export function sampleOf(cpu: ReturnType<typeof cpuBetween>, reading: SystemReading, gpu: GpuReading | undefined): SystemSample {
  return {
    cpuPercent: Math.max(0, cpu.cpuPercent),
    cpuCorePercent: Math.max(0, cpu.cpuCorePercent),
    machineCpuPercent: cpu.machineCpuPercent,
    memoryMb: reading.rssBytes / MIB,
    gpuPercent: gpu?.gpuPercent ?? 0,
    gpuEncoderPercent: gpu?.encoderPercent,
    gpuDecoderPercent: gpu?.decoderPercent,
    processes: reading.processes,
  };
}
