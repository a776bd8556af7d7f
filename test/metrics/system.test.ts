import assert from 'node:assert/strict';
import { access, chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { cpuBetween, parseAuxv, parseMachineCpu, parseNvidiaSmi, parseProcStat, ProcFiles, SystemMonitor, type SystemReading } from '../../src/metrics/system.ts';

const MIB = 1024 * 1024;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'proxy-rtmp-metrics-'));
  dirs.push(dir);
  return dir;
}

after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A /proc/<pid>/stat line (proc(5)) with the fields the monitor reads; the rest are filler. */
function statLine(p: { pid: number; comm: string; ppid: number; utime: number; stime: number; start: number }): string {
  const fields: (string | number)[] = [p.pid, `(${p.comm})`, 'S', p.ppid];
  while (fields.length < 13) fields.push(fields.length); // fields 5..13
  fields.push(p.utime, p.stime); // 14, 15
  while (fields.length < 21) fields.push(0); // 16..21
  fields.push(p.start); // 22
  while (fields.length < 52) fields.push(0);
  return fields.join(' ') + '\n';
}

interface FakeProc {
  pid: number;
  comm: string;
  ppid: number;
  utime: number;
  stime: number;
  start: number;
  rssPages: number;
}

async function writeProc(root: string, uptime: number, procs: readonly FakeProc[]): Promise<void> {
  // Files that stay are rewritten in place, as procfs regenerates the same file (the monitor keeps
  // them open between readings); processes that ended disappear.
  await mkdir(root, { recursive: true });
  const keep = new Set(procs.map((p) => String(p.pid)));
  for (const name of await readdir(root)) if (/^\d+$/.test(name) && !keep.has(name)) await rm(join(root, name), { recursive: true, force: true });
  await writeFile(join(root, 'uptime'), `${uptime.toFixed(2)} 12345.67\n`);
  // The machine: idle grows by 3 ticks per second of uptime, busy by 1.
  await writeFile(join(root, 'stat'), `cpu  ${uptime * 100} 0 0 ${uptime * 300} 0 0 0 0 0 0\ncpu0 0 0 0 0\n`);
  for (const p of procs) {
    await mkdir(join(root, String(p.pid)), { recursive: true });
    await writeFile(join(root, String(p.pid), 'stat'), statLine(p));
    await writeFile(join(root, String(p.pid), 'statm'), `99999 ${p.rssPages} 300 10 0 500 0\n`);
  }
  // Not a process, and a process whose stat vanished or is garbage: all ignored.
  await mkdir(join(root, 'self'), { recursive: true });
  await mkdir(join(root, '4242'), { recursive: true });
  await mkdir(join(root, '4243'), { recursive: true });
  await writeFile(join(root, '4243', 'stat'), 'garbage\n');
}

describe('parseProcStat', () => {
  test('counts fields from the last ")" so comm may hold spaces and parentheses', () => {
    const line = statLine({ pid: 77, comm: 'ffmpeg (x) ) y', ppid: 5, utime: 123, stime: 45, start: 6789 });
    assert.deepEqual(parseProcStat(line), { pid: 77, comm: 'ffmpeg (x) ) y', ppid: 5, cpuTicks: 168, startTicks: 6789 });
  });

  // The appliance targets Linux; procfs is a requirement there, so its absence fails.
  test('reads a real line from this kernel', async () => {
    const text = await (await import('node:fs/promises')).readFile('/proc/self/stat', 'utf8');
    const stat = parseProcStat(text);
    assert.ok(stat !== undefined);
    assert.ok(stat.pid > 0 && stat.startTicks > 0);
  });

  test('rejects malformed lines', () => {
    assert.equal(parseProcStat('garbage'), undefined);
    assert.equal(parseProcStat('12 (x) S 1 2 3'), undefined);
    assert.equal(parseProcStat('x (y) S 1 ' + '0 '.repeat(40)), undefined);
  });
});

/** An auxv (proc(5)) of 64-bit (type, value) pairs, AT_NULL-terminated. */
function auxv(pairs: [number, number][], wordBytes: 4 | 8 = 8): Buffer {
  const out = Buffer.alloc((pairs.length + 1) * 2 * wordBytes);
  pairs.forEach(([type, value], i) => {
    if (wordBytes === 8) {
      out.writeBigUInt64LE(BigInt(type), i * 16);
      out.writeBigUInt64LE(BigInt(value), i * 16 + 8);
    } else {
      out.writeUInt32LE(type, i * 8);
      out.writeUInt32LE(value, i * 8 + 4);
    }
  });
  return out;
}

describe('parseAuxv', () => {
  test('AT_PAGESZ (6) and AT_CLKTCK (17), 64- and 32-bit words; nothing after AT_NULL', () => {
    assert.deepEqual(parseAuxv(auxv([[33, 1], [6, 16384], [17, 250], [25, 7]]), 8), { pageSize: 16384, clockTicks: 250 });
    assert.deepEqual(parseAuxv(auxv([[6, 65536], [17, 1000]], 4), 4), { pageSize: 65536, clockTicks: 1000 });
    const truncatedAtNull = Buffer.concat([auxv([[6, 4096]]), auxv([[17, 100]])]);
    assert.deepEqual(parseAuxv(truncatedAtNull, 8), { pageSize: 4096, clockTicks: undefined });
    assert.deepEqual(parseAuxv(Buffer.alloc(7), 8), { pageSize: undefined, clockTicks: undefined });
  });

  test("this process's auxv says what getconf says", { skip: process.platform !== 'linux' ? 'Linux only' : false }, async () => {
    const run = promisify(execFile);
    const [page, ticks] = await Promise.all([run('getconf', ['PAGESIZE']), run('getconf', ['CLK_TCK'])]);
    assert.deepEqual(parseAuxv(readFileSync('/proc/self/auxv'), 8), { pageSize: Number(page.stdout), clockTicks: Number(ticks.stdout) });
  });
});

describe('pure figures', () => {
  test('parseMachineCpu: busy is total less idle and iowait; guest is not counted twice', () => {
    const text = 'cpu  100 5 50 800 40 3 2 0 30 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2\n';
    assert.deepEqual(parseMachineCpu(text), { busy: 160, total: 1000 });
    assert.equal(parseMachineCpu('cpu0 1 2 3 4\n'), undefined);
    assert.equal(parseMachineCpu('cpu  a b c d\n'), undefined);
  });

  test('parseNvidiaSmi: means per column over the GPUs, [N/A] and [Not Supported] skipped', () => {
    assert.deepEqual(parseNvidiaSmi('10, 0, [N/A]\n30, 50, [Not Supported]\n\n'), { gpuPercent: 20, encoderPercent: 25, decoderPercent: undefined });
    assert.deepEqual(parseNvidiaSmi('77\n'), { gpuPercent: 77, encoderPercent: undefined, decoderPercent: undefined });
    assert.deepEqual(parseNvidiaSmi(''), { gpuPercent: undefined, encoderPercent: undefined, decoderPercent: undefined });
  });

  const reading = (atS: number, cpu: [string, number][], machine?: [number, number]): SystemReading => ({
    atS, startS: 100, cpuS: new Map(cpu), machine: machine === undefined ? undefined : { busy: machine[0], total: machine[1] }, rssBytes: 0, processes: cpu.length,
  });
  const cases: { name: string; older: SystemReading | undefined; newer: SystemReading; cores: number; want: ReturnType<typeof cpuBetween> }[] = [
    {
      name: 'two readings 5 s apart, a process that started in between counts whole',
      older: reading(200, [['1:0', 10], ['2:5', 4]], [1000, 4000]),
      newer: reading(205, [['1:0', 12], ['2:5', 5], ['3:9', 1]], [1500, 5000]),
      cores: 2, want: { cpuCorePercent: 80, cpuPercent: 40, machineCpuPercent: 50 },
    },
    {
      name: 'no older reading: since this process started, and the machine since boot',
      older: undefined, newer: reading(110, [['1:0', 5]], [250, 1000]), cores: 4, want: { cpuCorePercent: 50, cpuPercent: 12.5, machineCpuPercent: 25 },
    },
    {
      name: 'a reused pid (new start time) is a new process; counters that went backwards count 0',
      older: reading(10, [['1:0', 3], ['7:1', 50]]), newer: reading(12, [['1:0', 2], ['7:2', 1]]), cores: 1, want: { cpuCorePercent: 50, cpuPercent: 50, machineCpuPercent: undefined },
    },
    {
      name: 'the same reading twice: a zero-length interval is 0, never garbage',
      older: reading(10, [['1:0', 3]], [5, 10]), newer: reading(10, [['1:0', 3]], [5, 10]), cores: 1, want: { cpuCorePercent: 0, cpuPercent: 0, machineCpuPercent: 0 },
    },
    {
      name: 'capped at 100 for the machine share',
      older: reading(0, [['1:0', 0]]), newer: reading(1, [['1:0', 3]]), cores: 2, want: { cpuCorePercent: 300, cpuPercent: 100, machineCpuPercent: undefined },
    },
  ];
  for (const c of cases) test(`cpuBetween: ${c.name}`, () => assert.deepEqual(cpuBetween(c.older, c.newer, c.cores), c.want));
});

describe('ProcFiles', () => {
  test('re-reads an open file from its start, closes files a reading skipped, and a file that is gone', async () => {
    const dir = await tempDir();
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await writeFile(a, 'one');
    await writeFile(b, 'bee');
    const files = new ProcFiles();
    assert.equal(files.read(a), 'one');
    assert.equal(files.read(b), 'bee');
    assert.equal(files.size, 2);
    await writeFile(a, 'two, longer');
    assert.equal(files.read(a), 'two, longer');
    files.sweep();
    // Only a is read in the next reading: b is closed at the sweep after it.
    assert.equal(files.read(a), 'two, longer');
    files.sweep();
    assert.equal(files.size, 1);
    assert.equal(files.read(join(dir, 'missing')), undefined);
    assert.equal(files.size, 1);
    // /proc itself: our own stat, read twice through one descriptor, names this process both times.
    const self = `/proc/${process.pid}/stat`;
    if (files.read(self) !== undefined) assert.equal(parseProcStat(files.read(self)!)?.pid, process.pid);
    files.closeAll();
    assert.equal(files.size, 0);
  });
});

describe('SystemMonitor over a fake procfs', () => {
  test('sums self and descendants exactly, diffs per process between samples', async () => {
    const root = join(await tempDir(), 'proc');
    const options = { procRoot: root, pid: 100, nvidiaSmi: false as const, drmRoot: join(root, 'no-drm'), cores: 4, pageSize: 4096, clockTicks: 100 };
    // Self started at 900 s after boot; uptime 1000 s: the first sample covers 100 s.
    await writeProc(root, 1000, [
      { pid: 1, comm: 'init', ppid: 0, utime: 9_000_000, stime: 0, start: 1, rssPages: 77_777 },
      { pid: 100, comm: 'node', ppid: 1, utime: 1000, stime: 500, start: 90_000, rssPages: 1000 },
      { pid: 101, comm: 'ffmpeg ) (odd name', ppid: 100, utime: 2000, stime: 1000, start: 91_000, rssPages: 2000 },
      { pid: 102, comm: 'sh -c', ppid: 101, utime: 400, stime: 100, start: 92_000, rssPages: 560 },
      { pid: 200, comm: 'other', ppid: 1, utime: 50_000, stime: 0, start: 500, rssPages: 9999 },
      { pid: 201, comm: 'other child', ppid: 200, utime: 50_000, stime: 0, start: 600, rssPages: 9999 },
    ]);
    const monitor = new SystemMonitor(options);
    const first = await monitor.sample();
    // (1500 + 3000 + 500) ticks = 50 s of CPU over 100 s.
    assert.equal(first.cpuCorePercent, 50);
    assert.equal(first.cpuPercent, 12.5);
    assert.equal(first.memoryMb, ((1000 + 2000 + 560) * 4096) / MIB);
    assert.equal(first.processes, 3);
    assert.equal(first.gpuPercent, 0);

    // 10 s later: self +200 ticks, 101 +600, pid 102 exited and was reused by a
    // new child of 101 (50 ticks), and 103 is a new child of ours (100 ticks).
    await writeProc(root, 1010, [
      { pid: 1, comm: 'init', ppid: 0, utime: 9_100_000, stime: 0, start: 1, rssPages: 77_777 },
      { pid: 100, comm: 'node', ppid: 1, utime: 1100, stime: 600, start: 90_000, rssPages: 1100 },
      { pid: 101, comm: 'ffmpeg ) (odd name', ppid: 100, utime: 2500, stime: 1100, start: 91_000, rssPages: 2100 },
      { pid: 102, comm: 'sh -c', ppid: 101, utime: 40, stime: 10, start: 100_500, rssPages: 30 },
      { pid: 103, comm: 'ffmpeg', ppid: 100, utime: 90, stime: 10, start: 100_200, rssPages: 400 },
      { pid: 200, comm: 'other', ppid: 1, utime: 60_000, stime: 0, start: 500, rssPages: 9999 },
    ]);
    const second = await monitor.sample();
    // 200 + 600 + 50 + 100 = 950 ticks = 9.5 s over 10 s.
    assert.equal(second.cpuCorePercent, 95);
    assert.equal(second.cpuPercent, 23.75);
    assert.equal(second.memoryMb, ((1100 + 2100 + 30 + 400) * 4096) / MIB);
    assert.equal(second.processes, 4);
    assert.equal(second.machineCpuPercent, 25);
    assert.equal(first.machineCpuPercent, 25);
  });

  test('finds descendants through task/<tid>/children where the kernel has it, not by ppid over all of /proc', async () => {
    const root = join(await tempDir(), 'proc');
    await writeProc(root, 1000, [
      { pid: 100, comm: 'node', ppid: 1, utime: 1000, stime: 0, start: 90_000, rssPages: 1000 },
      { pid: 101, comm: 'ffmpeg', ppid: 100, utime: 2000, stime: 0, start: 91_000, rssPages: 2000 },
      { pid: 102, comm: 'ffmpeg', ppid: 100, utime: 500, stime: 0, start: 91_500, rssPages: 500 },
      { pid: 103, comm: 'x264 helper', ppid: 101, utime: 100, stime: 0, start: 92_000, rssPages: 10 },
      // A ppid of ours that no children file lists: the ppid walk would count it, this path must not.
      { pid: 104, comm: 'decoy', ppid: 100, utime: 9_000, stime: 0, start: 92_000, rssPages: 9_000 },
    ]);
    const children: [number, number, string][] = [[100, 100, '101 '], [100, 150, '102 '], [101, 101, '103 '], [101, 160, ''], [102, 102, ''], [103, 103, '']];
    for (const [pid, tid, list] of children) {
      await mkdir(join(root, String(pid), 'task', String(tid)), { recursive: true });
      await writeFile(join(root, String(pid), 'task', String(tid), 'children'), list);
    }
    const monitor = new SystemMonitor({ procRoot: root, pid: 100, nvidiaSmi: false, drmRoot: false, cores: 4, pageSize: 4096, clockTicks: 100 });
    const s = await monitor.sample();
    assert.equal(s.processes, 4);
    // (1000 + 2000 + 500 + 100) ticks = 36 s over 100 s.
    assert.equal(s.cpuCorePercent, 36);
    assert.equal(s.memoryMb, ((1000 + 2000 + 500 + 10) * 4096) / MIB);
  });

  test('on this machine it counts a child process of ours', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await sleep(100);
      const reading = await new SystemMonitor({ nvidiaSmi: false, drmRoot: false }).read();
      assert.ok([...reading.cpuS.keys()].some((k) => k.startsWith(`${child.pid}:`)), `sleep ${child.pid} in ${[...reading.cpuS.keys()].join(' ')}`);
    } finally {
      child.kill();
    }
  });

  test('page size and clock ticks come from <pid>/auxv when not given', async () => {
    const root = join(await tempDir(), 'proc');
    // 250 ticks/s and 16 KiB pages: neither is what getconf says here, so the figures show which was read.
    await writeProc(root, 100, [{ pid: 9, comm: 'node', ppid: 1, utime: 2500, stime: 0, start: 0, rssPages: 10 }]);
    await writeFile(join(root, '9', 'auxv'), auxv([[6, 16384], [17, 250]]));
    const s = await new SystemMonitor({ procRoot: root, pid: 9, nvidiaSmi: false, drmRoot: false, cores: 1 }).sample();
    assert.equal(s.cpuCorePercent, 10); // 2500 ticks / 250 = 10 s over 100 s
    assert.equal(s.memoryMb, (10 * 16384) / MIB);
  });

  test('the whole-machine figure is capped at 100', async () => {
    const root = join(await tempDir(), 'proc');
    await writeProc(root, 10, [{ pid: 7, comm: 'node', ppid: 1, utime: 5000, stime: 0, start: 0, rssPages: 1 }]);
    const monitor = new SystemMonitor({ procRoot: root, pid: 7, nvidiaSmi: false, drmRoot: false, cores: 2, pageSize: 4096, clockTicks: 100 });
    const s = await monitor.sample();
    assert.equal(s.cpuCorePercent, 500);
    assert.equal(s.cpuPercent, 100);
  });

  test('without procfs it measures this process alone', async () => {
    const monitor = new SystemMonitor({ procRoot: join(await tempDir(), 'absent'), nvidiaSmi: false, drmRoot: false });
    const rss = process.memoryUsage.rss() / MIB;
    const s = await monitor.sample();
    assert.equal(s.processes, 1);
    assert.ok(s.memoryMb > rss * 0.8 && s.memoryMb < rss * 1.25, `${s.memoryMb} vs ${rss}`);
    assert.ok(s.cpuCorePercent > 0);
  });
});

describe('SystemMonitor GPU', () => {
  test('0 when nvidia-smi is off and there is no sysfs', async () => {
    const monitor = new SystemMonitor({ nvidiaSmi: false, drmRoot: join(await tempDir(), 'none') });
    assert.equal((await monitor.sample()).gpuPercent, 0);
  });

  test('averages gpu_busy_percent over the DRM cards', async () => {
    const drm = await tempDir();
    for (const [card, busy] of [['card0', '37\n'], ['card1', '41\n'], ['card0-DP-1', '99\n']] as const) {
      await mkdir(join(drm, card, 'device'), { recursive: true });
      await writeFile(join(drm, card, 'device', 'gpu_busy_percent'), busy);
    }
    await mkdir(join(drm, 'card2', 'device'), { recursive: true }); // no busy file: skipped
    const monitor = new SystemMonitor({ nvidiaSmi: 'no-such-nvidia-smi-binary', drmRoot: drm });
    assert.equal((await monitor.sample()).gpuPercent, 39);
  });

  test('averages nvidia-smi over GPUs, skipping [N/A]', async () => {
    const dir = await tempDir();
    const fake = join(dir, 'nvidia-smi');
    await writeFile(fake, '#!/bin/sh\n[ "$1" = "--query-gpu=utilization.gpu" ] || exit 3\nprintf "20\\n[N/A]\\n45\\n"\n');
    await chmod(fake, 0o755);
    const monitor = new SystemMonitor({ nvidiaSmi: fake, drmRoot: false, nvidiaDriverDir: false });
    const s = await monitor.sample();
    assert.equal(s.gpuPercent, 32.5, 'a driver that refuses the encoder fields gets the GPU query alone');
    assert.equal(s.gpuEncoderPercent, undefined);
  });

  test('asks nvidia-smi for the encoder and decoder utilisation', async () => {
    const dir = await tempDir();
    const fake = join(dir, 'nvidia-smi');
    await writeFile(fake, '#!/bin/sh\n[ "$1" = "--query-gpu=utilization.gpu,utilization.encoder,utilization.decoder" ] || exit 3\nprintf "20, 60, 10\\n40, [N/A], 30\\n"\n');
    await chmod(fake, 0o755);
    const monitor = new SystemMonitor({ nvidiaSmi: fake, drmRoot: false, nvidiaDriverDir: false });
    assert.deepEqual(await monitor.readGpu(), { gpuPercent: 30, encoderPercent: 60, decoderPercent: 20 });
  });

  test('nvidia-smi never runs when the driver lists no GPU', async () => {
    const dir = await tempDir();
    const marker = join(dir, 'ran');
    const fake = join(dir, 'nvidia-smi');
    await writeFile(fake, `#!/bin/sh\ntouch ${marker}\necho 50\n`);
    await chmod(fake, 0o755);
    const gpus = join(dir, 'gpus');
    await mkdir(gpus);
    const none = new SystemMonitor({ nvidiaSmi: fake, drmRoot: false, nvidiaDriverDir: gpus });
    assert.deepEqual(await none.readGpu(), { gpuPercent: undefined, encoderPercent: undefined, decoderPercent: undefined });
    await assert.rejects(access(marker), 'not spawned');
    await mkdir(join(gpus, '0000:3b:00.0'));
    const one = new SystemMonitor({ nvidiaSmi: fake, drmRoot: false, nvidiaDriverDir: gpus });
    assert.equal((await one.readGpu()).gpuPercent, 50);
    await access(marker);
  });
});

describe('SystemMonitor on this machine (Linux)', () => {
  test('a busy child raises cpuPercent; memory includes our own RSS', async () => {
    const monitor = new SystemMonitor({ nvidiaSmi: false, drmRoot: false });
    await monitor.sample();
    await sleep(500);
    const idle = await monitor.sample();

    const child = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    try {
      await sleep(100);
      const ownRss = process.memoryUsage.rss() / MIB;
      const started = await monitor.sample();
      assert.ok(started.processes >= 2, `processes ${started.processes}`);
      assert.ok(started.memoryMb >= ownRss, `memory ${started.memoryMb} < own RSS ${ownRss}`);
      await sleep(1500);
      const busy = await monitor.sample();
      // One core spinning: about 100 in the top convention.
      assert.ok(busy.cpuCorePercent > idle.cpuCorePercent + 50, `busy ${busy.cpuCorePercent} vs idle ${idle.cpuCorePercent}`);
      assert.ok(busy.cpuPercent > idle.cpuPercent, `busy ${busy.cpuPercent} vs idle ${idle.cpuPercent}`);
      assert.ok(Math.abs(busy.cpuPercent - Math.min(100, busy.cpuCorePercent / (await import('node:os')).availableParallelism())) < 1e-9);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('concurrent calls share one measurement', async () => {
    const monitor = new SystemMonitor({ nvidiaSmi: false, drmRoot: false });
    const [a, b] = await Promise.all([monitor.sample(), monitor.sample()]);
    assert.equal(a, b);
  });
});
