/**
 * Soak run (issue 6; not part of CI): starts proxy-rtmp in its own process,
 * keeps ffmpeg publishers on it for N minutes (each reconnects every
 * --publish-seconds, so streams are published and unpublished all along), and
 * prints, every --interval seconds, the server's RSS, V8 heap, descriptors and
 * ffmpeg children, read from /proc and from its own /metrics. At the end: the
 * first/last/peak figures, the RSS trend after warm-up, and whether anything
 * was left behind once the server stopped.
 *
 *   node --import tsx bench/soak.ts --minutes 30
 *   node --import tsx bench/soak.ts --minutes 5 --streams 4 --interval 5 --publish-seconds 20
 *   node --import tsx bench/soak.ts --minutes 10 --no-transcode        # ingest only
 *
 * RTMP_* variables in the environment reach the server (e.g. RTMP_ENCODER=x264).
 * Exit status: 0, or 1 when the server died, did not stop cleanly, or left ffmpeg behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    streams: { type: 'string', default: '2' },
    interval: { type: 'string', default: '10' },
    'publish-seconds': { type: 'string', default: '60' },
    size: { type: 'string', default: '320x240' },
    kbps: { type: 'string', default: '400' },
    'no-transcode': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (opts.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
  process.exit(0);
}
const num = (name: string, raw: string, min: number): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${raw}`);
  return n;
};
const MINUTES = num('minutes', opts.minutes, 0.1);
const STREAMS = Math.round(num('streams', opts.streams, 0));
const INTERVAL_S = num('interval', opts.interval, 1);
const PUBLISH_S = num('publish-seconds', opts['publish-seconds'], 2);
const KBPS = Math.round(num('kbps', opts.kbps, 50));
const SIZE = /^\d+x\d+$/.test(opts.size) ? opts.size : '320x240';
const TRANSCODE = !opts['no-transcode'];

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

// --- /proc readers (the server is measured from outside) ------------------

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      out.push({ pid: Number(name), ppid: Number(stat.slice(close + 2).split(' ')[1]), comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const childrenOf = (pid: number) => processes().filter((p) => p.ppid === pid);

function rssBytes(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** A few figures from the server's own /metrics (Prometheus text). */
async function scrape(httpPort: number): Promise<{ heap?: number; streams?: number }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const value = (name: string) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      return m === null ? undefined : Number(m[1]);
    };
    const out: { heap?: number; streams?: number } = {};
    const heap = value('nodejs_heap_size_used_bytes');
    const streams = value('proxy_rtmp_active_streams');
    if (heap !== undefined) out.heap = heap;
    if (streams !== undefined) out.streams = streams;
    return out;
  } catch {
    return {};
  }
}

// --- the server --------------------------------------------------------------

const [rtmpPort, httpPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
const outputDir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-soak-'));
const rtmpEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('RTMP_')));
const server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  cwd: new URL('..', import.meta.url),
  env: {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? tmpdir(),
    RTMP_HOST: '127.0.0.1',
    RTMP_HTTP_HOST: '127.0.0.1',
    RTMP_GRPC_HOST: '127.0.0.1',
    RTMP_TRANSCODE: String(TRANSCODE),
    RTMP_TRANSCODE_PRESET: 'ultrafast',
    RTMP_LOG_LEVEL: 'warn',
    RTMP_LOG_FORMAT: 'json',
    RTMP_DRAIN_GRACE_MS: '0',
    ...rtmpEnv,
    RTMP_PORT: String(rtmpPort),
    RTMP_HTTP_PORT: String(httpPort),
    RTMP_GRPC_PORT: String(grpcPort),
    RTMP_OUTPUT_DIR: outputDir,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let serverLog = '';
const keep = (d: Buffer) => {
  serverLog = (serverLog + d.toString()).slice(-20_000);
};
server.stdout!.on('data', keep);
server.stderr!.on('data', keep);
const serverClosed = once(server, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null }));
let serverDied = false;
void serverClosed.then(() => (serverDied = true));
const serverPid = server.pid!;

const deadline = Date.now() + 60_000;
while ((await scrape(httpPort)).streams === undefined) {
  if (serverDied || Date.now() > deadline) {
    process.stderr.write(`the server did not start:\n${serverLog}\n`);
    process.exit(1);
  }
  await sleep(200);
}

// --- publishers ----------------------------------------------------------------

let stopping = false;
let publishes = 0;
let failedPublishes = 0;
const publishers = new Set<ChildProcess>();

/** One publisher slot: ffmpeg publishes for PUBLISH_S seconds, exits, and the slot publishes again. */
async function slot(i: number): Promise<void> {
  while (!stopping) {
    const child = spawn('ffmpeg', [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', `testsrc2=size=${SIZE}:rate=30`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', String(PUBLISH_S),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p',
      '-b:v', `${KBPS}k`, '-maxrate', `${KBPS}k`, '-bufsize', `${KBPS}k`,
      '-c:a', 'aac', '-b:a', '64k',
      '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/soak_${i}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    publishers.add(child);
    publishes++;
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const [code] = await once(child, 'close');
    publishers.delete(child);
    if (code !== 0 && !stopping) {
      failedPublishes++;
      process.stderr.write(`# publisher soak_${i} exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}\n`);
    }
    if (!stopping) await sleep(500);
  }
}

// --- sampling ----------------------------------------------------------------------

interface Sample {
  t: number;
  rss: number;
  heap: number | undefined;
  fds: number;
  ffmpeg: number;
  streams: number | undefined;
}
const samples: Sample[] = [];
const mib = (n: number | undefined) => (n === undefined ? '   -  ' : (n / 1048576).toFixed(1).padStart(6));
const t0 = Date.now();
const clock = (ms: number) => `${String(Math.floor(ms / 60_000)).padStart(3)}:${String(Math.floor((ms / 1000) % 60)).padStart(2, '0')}`;

async function sample(): Promise<void> {
  const m = await scrape(httpPort);
  const s: Sample = {
    t: Date.now() - t0,
    rss: rssBytes(serverPid),
    heap: m.heap,
    fds: fdCount(serverPid),
    ffmpeg: childrenOf(serverPid).filter((p) => p.comm === 'ffmpeg').length,
    streams: m.streams,
  };
  samples.push(s);
  process.stdout.write(
    `${clock(s.t)}  ${mib(s.rss)}  ${mib(s.heap)}  ${String(s.fds).padStart(5)}  ${String(s.ffmpeg).padStart(6)}  ${String(s.streams ?? '-').padStart(7)}  ${String(publishes).padStart(9)}\n`,
  );
}

process.stdout.write(
  `proxy-rtmp soak: pid ${serverPid}, ${MINUTES} min, ${STREAMS} publisher(s) of ${SIZE} at ${KBPS} kbps reconnecting every ${PUBLISH_S} s, ` +
    `transcoding ${TRANSCODE ? 'on' : 'off'}, a sample every ${INTERVAL_S} s\n\n` +
    `   time  RSS MiB  heap MiB    fds  ffmpeg  streams  publishes\n`,
);
process.on('SIGINT', () => {
  if (stopping) process.exit(130);
  process.stderr.write('\n# interrupted: stopping early\n');
  stopping = true;
});

await sample();
const slots = Array.from({ length: STREAMS }, (_, i) => slot(i));
const end = t0 + MINUTES * 60_000;
while (!stopping && !serverDied && Date.now() < end) {
  await sleep(Math.min(INTERVAL_S * 1000, Math.max(0, end - Date.now())));
  if (!serverDied) await sample();
}

// --- stop and summarise -------------------------------------------------------------

stopping = true;
for (const p of publishers) p.kill('SIGINT');
await Promise.all(slots);
await sleep(1000);
const idle = serverDied ? undefined : { fds: fdCount(serverPid), ffmpeg: childrenOf(serverPid).filter((p) => p.comm === 'ffmpeg').length };
const serverFfmpegBefore = childrenOf(serverPid).map((p) => p.pid);
server.kill('SIGTERM');
const stopTimer = setTimeout(() => server.kill('SIGKILL'), 20_000);
const exit = await serverClosed;
clearTimeout(stopTimer);
await sleep(500);
const leftBehind = serverFfmpegBefore.filter((pid) => processes().some((p) => p.pid === pid));
rmSync(outputDir, { recursive: true, force: true });

const first = samples[0]!;
const last = samples.at(-1)!;
const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
// RSS trend after the first fifth (warm-up): least squares, MiB per hour.
const steady = samples.filter((s) => s.t >= (last.t - first.t) / 5);
let slope = NaN;
if (steady.length >= 10) {
  const n = steady.length;
  const mx = steady.reduce((a, s) => a + s.t, 0) / n;
  const my = steady.reduce((a, s) => a + s.rss, 0) / n;
  const sxy = steady.reduce((a, s) => a + (s.t - mx) * (s.rss - my), 0);
  const sxx = steady.reduce((a, s) => a + (s.t - mx) ** 2, 0);
  slope = sxx === 0 ? 0 : ((sxy / sxx) * 3_600_000) / 1048576;
}
process.stdout.write(
  `\nsummary after ${clock(last.t).trim()} (${samples.length} samples, ${publishes} publishes, ${failedPublishes} failed):\n` +
    `  RSS   first ${mib(first.rss).trim()} MiB, peak ${mib(peak.rss).trim()} MiB at ${clock(peak.t).trim()}, last ${mib(last.rss).trim()} MiB; trend after warm-up ${Number.isNaN(slope) ? 'n/a (too few samples)' : `${slope.toFixed(1)} MiB/h`}\n` +
    `  heap  first ${mib(first.heap).trim()} MiB, last ${mib(last.heap).trim()} MiB\n` +
    `  fds   first ${first.fds}, last ${last.fds}${idle === undefined ? '' : `, with no publisher ${idle.fds}`}\n` +
    `  ffmpeg children with no publisher: ${idle?.ffmpeg ?? 'n/a'}; left running after the server stopped: ${leftBehind.length}\n` +
    `  server: ${serverDied && exit.code === null ? `died (${exit.signal})` : `exit ${exit.code ?? exit.signal}`} after SIGTERM\n`,
);
const ok = exit.code === 0 && leftBehind.length === 0;
if (!ok) process.stderr.write(`server log (tail):\n${serverLog.slice(-4000)}\n`);
process.exit(ok ? 0 : 1);
