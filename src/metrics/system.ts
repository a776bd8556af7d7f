import { execFile } from 'node:child_process';
import { access, constants, readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';

/** One measurement of this process and its descendants (the ffmpeg children). */
export interface SystemSample {
  /** CPU of this process plus descendants as a share of the whole machine: 0–100 across all cores. */
  cpuPercent: number;
  /** The same CPU time in the top/Go convention: 100 = one full core (may exceed 100). */
  cpuCorePercent: number;
  /** Resident memory of this process plus descendants, in MiB. */
  memoryMb: number;
  /** Mean GPU utilisation over the GPUs found, 0–100; 0 when none can be read. */
  gpuPercent: number;
  /** This process plus its live descendants. */
  processes: number;
}

/** SystemMonitor options; the roots exist so that tests can point at fake trees. */
export interface SystemMonitorOptions {
  /** Default `/proc`. */
  procRoot?: string;
  /** nvidia-smi binary (name looked up on PATH, or a path), or `false` to never run it. Default `nvidia-smi`. */
  nvidiaSmi?: string | false;
  /** Default `/sys/class/drm`; `false` skips the sysfs GPU figures. */
  drmRoot?: string | false;
  /** Wall clock in ms; used only by the non-Linux fallback. Default `Date.now`. */
  now?: () => number;
  /** Root of the process tree to measure. Default `process.pid`. */
  pid?: number;
  /** Cores `cpuPercent` is normalised by. Default `os.availableParallelism()`. */
  cores?: number;
  /** Bytes per page for statm. Default: `getconf PAGESIZE`, else 4096. */
  pageSize?: number;
  /** USER_HZ, the unit of the stat CPU fields. Default: `getconf CLK_TCK`, else 100. */
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

const NVIDIA_SMI_ARGS = ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'];
const NVIDIA_SMI_TIMEOUT_MS = 2000;
const MIB = 1024 * 1024;

/**
 * Measures CPU, memory and GPU for this process and every descendant (the
 * ffmpeg children), from procfs on Linux.
 *
 * CPU is the utime+stime of each process in the tree, diffed per process
 * (pid + start time, so a reused pid is not mistaken for an old one) against
 * the previous sample; the first sample covers the time since this process
 * started. CPU spent by a child that exited between two samples is lost: its
 * ticks go to the parent's cutime only when reaped, which this does not count,
 * as cutime would also include children that ended before the previous sample.
 * `cpuPercent` is normalised to the whole machine (100 = every core of
 * `os.availableParallelism()` busy), `cpuCorePercent` is the top convention.
 *
 * GPU: nvidia-smi when the binary exists (its absence is remembered), else
 * `gpu_busy_percent` in sysfs (amdgpu, Intel xe), else 0.
 *
 * Without procfs (macOS, Windows) only this process is measured, through
 * process.cpuUsage() and process.memoryUsage().
 *
 * Each sample starts a new interval, so callers share one; concurrent calls
 * share one measurement.
 */
export class SystemMonitor {
  readonly #procRoot: string;
  readonly #drmRoot: string | false;
  readonly #now: () => number;
  readonly #pid: number;
  readonly #cores: number;
  #nvidiaSmi: string | false;
  #nvidiaChecked = false;
  #pageSize: number | undefined;
  #clockTicks: number | undefined;
  #procfs: boolean | undefined;
  #inFlight: Promise<SystemSample> | undefined;
  /** `pid:startTicks` → ticks at the previous sample. */
  #previousTicks = new Map<string, number>();
  /** Uptime (s) at the previous sample; undefined before the first. */
  #previousUptime: number | undefined;
  #previousUsage: NodeJS.CpuUsage | undefined;
  #previousAt = 0;

  constructor(options: SystemMonitorOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#drmRoot = options.drmRoot ?? '/sys/class/drm';
    this.#nvidiaSmi = options.nvidiaSmi ?? 'nvidia-smi';
    this.#now = options.now ?? Date.now;
    this.#pid = options.pid ?? process.pid;
    this.#cores = Math.max(1, options.cores ?? availableParallelism());
    this.#pageSize = options.pageSize;
    this.#clockTicks = options.clockTicks;
  }

  /** Takes a sample; the CPU figures cover the time since the previous one. */
  sample(): Promise<SystemSample> {
    this.#inFlight ??= this.#sample().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #sample(): Promise<SystemSample> {
    const [cpuMem, gpuPercent] = await Promise.all([this.#cpuAndMemory(), this.#gpu()]);
    const cpuCorePercent = Math.max(0, cpuMem.corePercent);
    return {
      cpuPercent: Math.min(100, cpuCorePercent / this.#cores),
      cpuCorePercent,
      memoryMb: cpuMem.rssBytes / MIB,
      gpuPercent,
      processes: cpuMem.processes,
    };
  }

  async #cpuAndMemory(): Promise<{ corePercent: number; rssBytes: number; processes: number }> {
    if (this.#procfs === undefined) {
      this.#procfs = (await readText(join(this.#procRoot, String(this.#pid), 'stat'))) !== undefined;
    }
    return this.#procfs ? this.#fromProcfs() : this.#fromProcess();
  }

  async #fromProcess(): Promise<{ corePercent: number; rssBytes: number; processes: number }> {
    const now = this.#now();
    const usage = process.cpuUsage(this.#previousUsage);
    const elapsedMs = this.#previousUsage === undefined ? process.uptime() * 1000 : now - this.#previousAt;
    this.#previousUsage = process.cpuUsage();
    this.#previousAt = now;
    const usedMs = (usage.user + usage.system) / 1000;
    return {
      corePercent: elapsedMs > 0 ? (usedMs / elapsedMs) * 100 : 0,
      rssBytes: process.memoryUsage().rss,
      processes: 1,
    };
  }

  async #fromProcfs(): Promise<{ corePercent: number; rssBytes: number; processes: number }> {
    this.#pageSize ??= await getconf('PAGESIZE', 4096);
    this.#clockTicks ??= await getconf('CLK_TCK', 100);
    const hz = this.#clockTicks;
    const uptimeText = await readText(join(this.#procRoot, 'uptime'));
    const uptime = Number(uptimeText?.split(/\s+/)[0]);

    const tree = await this.#processTree();
    const self = tree[0];
    const statms = await Promise.all(tree.map((p) => readText(join(this.#procRoot, String(p.pid), 'statm'))));
    let rssPages = 0;
    for (const statm of statms) {
      const resident = Number(statm?.split(/\s+/)[1]);
      if (Number.isSafeInteger(resident)) rssPages += resident;
    }

    let corePercent = 0;
    if (self !== undefined && Number.isFinite(uptime)) {
      const since = this.#previousUptime ?? self.startTicks / hz;
      const elapsedS = uptime - since;
      const ticks = new Map<string, number>();
      let used = 0;
      for (const p of tree) {
        const id = `${p.pid}:${p.startTicks}`;
        ticks.set(id, p.cpuTicks);
        used += Math.max(0, p.cpuTicks - (this.#previousTicks.get(id) ?? 0));
      }
      if (elapsedS > 0) corePercent = (used / hz / elapsedS) * 100;
      this.#previousTicks = ticks;
      this.#previousUptime = uptime;
    }
    return { corePercent, rssBytes: rssPages * this.#pageSize, processes: tree.length };
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

  async #gpu(): Promise<number> {
    return (await this.#nvidia()) ?? (await this.#sysfsGpu()) ?? 0;
  }

  async #nvidia(): Promise<number | undefined> {
    if (this.#nvidiaSmi === false) return undefined;
    if (!this.#nvidiaChecked) {
      this.#nvidiaChecked = true;
      if (!(await findExecutable(this.#nvidiaSmi))) {
        this.#nvidiaSmi = false;
        return undefined;
      }
    }
    const { stdout, code } = await run(this.#nvidiaSmi, NVIDIA_SMI_ARGS, NVIDIA_SMI_TIMEOUT_MS);
    if (code === 'ENOENT') this.#nvidiaSmi = false;
    if (stdout === undefined) return undefined;
    // MIG instances and some GPUs print "[N/A]": those lines are skipped.
    const values = stdout
      .split('\n')
      .map((line) => Number.parseFloat(line.trim()))
      .filter((v) => Number.isFinite(v));
    return mean(values);
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
