/**
 * Figure 1, ingest cost: server CPU-seconds per GB ingested with transcoding
 * off, at 1, 8 and 32 concurrent publishers, and RSS; the same load on
 * nginx-rtmp (`live on; record off;`), Node-Media-Server and the Node floor (a
 * bare `net` server that discards what it reads).
 *
 * The primary figure is realtime: `ffmpeg -re … -c copy` publishers of a 720p
 * 4 Mbps file, as real broadcasters send. The second is flood, a fixed
 * amount of data as fast as the server takes it (throughput, and CPU per GB
 * undiluted by idle time): first one publisher that is not the bottleneck
 * (bench/lib/flood-sender.ts, pre-serialized chunks), then `ffmpeg
 * -stream_loop n -i file -c copy -f flv` without `-re` at 1, 8 and 32
 * publishers (one ffmpeg tops out near 160 MB/s here). Last, what each server costs with no stream at all. Only the
 * server's own process tree is measured (utime + stime from /proc), never the
 * publishers (their own CPU is shown beside).
 */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { floodPublish } from './lib/flood.ts';
import { peakRss, reapedChildrenCpuSeconds, treeCpuSeconds, treeRssBytes, treeWakeups } from './lib/proc.ts';
import { publish } from './lib/publish.ts';
import { NGINX_HINT, NMS_HINT, startNginx, startNms, startNodeFloor, startOurs, type Server } from './lib/servers.ts';
import { fmt, freePort, start, waitFor } from './lib/util.ts';

/** Figures of one (server, publishers) run. */
export interface IngestRun {
  server: string;
  publishers: number;
  bytes: number;
  cpuSeconds: number;
  wallSeconds: number;
  cpuPerGb: number;
  failed: number;
}

const MB = 1e6;
const MIB = 1024 * 1024;

/** `n` publishers push `totalBytes` in all, as fast as the server takes them; resolves with the bytes sent. */
async function flood(ctx: BenchContext, server: Server, n: number, totalBytes: number, tag: string): Promise<{ bytes: number; failed: number }> {
  const file = ctx.ingestSource;
  const loops = Math.max(0, Math.ceil(totalBytes / n / file.bytes) - 1);
  const pubs = Array.from({ length: n }, (_, i) => publish(file.path, server.url(`${tag}_${n}_${i}`), { realtime: false, loops }));
  const results = await Promise.all(pubs.map((p) => p.done));
  const failed = results.filter((r) => r.code !== 0).length;
  if (failed > 0) ctx.log(`  ${failed} of ${n} publishers to ${server.name} failed: ${results.find((r) => r.code !== 0)?.stderr.trim().slice(0, 300)}`);
  return { bytes: results.reduce((a, r) => a + r.bytes, 0), failed };
}

/**
 * One run: a fresh server, warmed up with 50 MB (JIT, first GCs, buffers: a
 * long-running server is past them), then `n` publishers push `totalBytes`.
 */
async function run(ctx: BenchContext, make: () => Promise<Server>, n: number, totalBytes: number): Promise<IngestRun> {
  const server = await make();
  try {
    await flood(ctx, server, Math.min(n, 8), 50 * MB, 'warmup');
    await sleep(300);
    const cpu0 = treeCpuSeconds(server.pid);
    const t0 = performance.now();
    const { bytes, failed } = await flood(ctx, server, n, totalBytes, 'ingest');
    const wall = (performance.now() - t0) / 1000;
    // The last bytes may still sit in the server's socket buffers.
    await sleep(300);
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    const r: IngestRun = { server: server.name, publishers: n, bytes, cpuSeconds: cpu, wallSeconds: wall, cpuPerGb: cpu / (bytes / 1e9), failed };
    ctx.log(`  ${r.server.padEnd(32)} n=${String(n).padStart(2)} flood  ${fmt(bytes / MB, 0)} MB in ${fmt(wall, 1)} s  cpu ${fmt(cpu, 2)} s  → ${fmt(r.cpuPerGb, 3)} cpu-s/GB`);
    return r;
  } finally {
    await server.stop();
  }
}

/** Figures of one flood by the fast sender (bench/lib/flood-sender.ts). */
export interface SenderRun extends IngestRun {
  /** The server's highest Acknowledgement, in bytes (0: it sends none). */
  acked: number;
  /** True when the clock stopped at the server's answer to a command sent after the flood. */
  synced: boolean;
  senderCpuSeconds: number;
  chunkSize: number;
}

/**
 * One publisher that is not the bottleneck: a fresh server, warmed up with
 * 200 MB, then `runs` floods of `totalBytes` each by the fast sender, each on
 * a new publish; the fastest is kept (the others lost time to the machine's
 * other work). `sync` false for a server that stops parsing after the
 * publish (the Node floor): its clock stops when the last byte is written.
 */
async function senderRun(ctx: BenchContext, make: () => Promise<Server>, totalBytes: number, runs: number, sync: boolean, chunkSize: number): Promise<SenderRun> {
  const server = await make();
  try {
    const file = ctx.ingestSource.path;
    await floodPublish(server.rtmpPort, 'warmup', file, 200 * MB, { sync, chunkSize });
    let best: SenderRun | undefined;
    for (let i = 0; i < runs; i++) {
      await sleep(300);
      const cpu0 = treeCpuSeconds(server.pid);
      const f = await floodPublish(server.rtmpPort, `flood_${i}`, file, totalBytes, { sync, chunkSize });
      // Unsynced (the floor): the last bytes may still sit in its socket buffers.
      if (!sync) await sleep(300);
      const cpu = treeCpuSeconds(server.pid) - cpu0;
      const r: SenderRun = {
        server: server.name, publishers: 1, bytes: f.bytes, cpuSeconds: cpu, wallSeconds: f.seconds, cpuPerGb: cpu / (f.bytes / 1e9), failed: 0,
        acked: f.acked, synced: f.synced, senderCpuSeconds: f.senderCpuSeconds, chunkSize,
      };
      ctx.log(`  ${r.server.padEnd(32)} fast sender, ${chunkSize}-byte chunks  ${fmt(f.bytes / MB, 0)} MB in ${fmt(f.seconds, 2)} s = ${fmt(f.bytes / MB / f.seconds, 0)} MB/s  cpu ${fmt(cpu, 2)} s → ${fmt(r.cpuPerGb, 3)} cpu-s/GB  acked ${fmt(f.acked / MB, 0)} MB  sender cpu ${fmt(f.senderCpuSeconds, 2)} s`);
      if (best === undefined || r.bytes / r.wallSeconds > best.bytes / best.wallSeconds) best = r;
    }
    return best!;
  } finally {
    await server.stop();
  }
}

/** The fast sender's own ceiling: the same chunk stream, no handshake, into a Python socket that discards (no Node on the reading side). */
async function senderCeiling(ctx: BenchContext, totalBytes: number): Promise<{ mbPerSecond: number; senderCpuSeconds: number } | undefined> {
  const port = await freePort();
  const sink = start('python3', ['-c', `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${port})); s.listen(1)
print('ready', flush=True)
c, _ = s.accept(); buf = bytearray(4 << 20)
while c.recv_into(buf): pass`]);
  try {
    await waitFor(() => sink.output().includes('ready'), 'the python sink to listen', 10_000);
    const f = await floodPublish(port, '', ctx.ingestSource.path, totalBytes, { raw: true });
    ctx.log(`  fast sender ceiling (python sink)  ${fmt(f.bytes / MB, 0)} MB in ${fmt(f.seconds, 2)} s = ${fmt(f.bytes / MB / f.seconds, 0)} MB/s  sender cpu ${fmt(f.senderCpuSeconds, 2)} s`);
    return { mbPerSecond: f.bytes / MB / f.seconds, senderCpuSeconds: f.senderCpuSeconds };
  } finally {
    await sink.stop('SIGKILL');
  }
}

/** Figures of one realtime (`-re`) run: n live publishers for a fixed media time. */
export interface RealtimeRun extends IngestRun {
  /** Voluntary context switches of the server tree per second (about its wake-ups). */
  wakeupsPerSecond: number;
  idleRssMb: number;
  peakRssMb: number;
  /** CPU of the publishers themselves (ffmpeg -re), which share the machine. */
  publisherCpuSeconds: number;
}

/**
 * `n` realtime publishers (`ffmpeg -re -t seconds -i 720p.flv -c copy`), all at
 * once, on a fresh server. CPU, wake-ups and bytes are taken over the steady
 * state: from 1 s after the last publisher started sending to 2 s before the
 * end, so neither the sessions' set-up nor the server's first JIT work counts
 * (a long-running server is past both).
 */
export async function realtimeRun(ctx: BenchContext, make: () => Promise<Server>, n: number, seconds: number): Promise<RealtimeRun> {
  const server = await make();
  try {
    await sleep(500);
    const idle = treeRssBytes(server.pid);
    const pub0 = reapedChildrenCpuSeconds();
    const rss = peakRss(server.pid, 250);
    const pubs = Array.from({ length: n }, (_, i) => publish(ctx.ladderSource.path, server.url(`live_${n}_${i}`), { realtime: true, seconds }));
    const all = Promise.all(pubs.map((p) => p.done));
    let ended = false;
    void all.then(() => (ended = true));
    const started = performance.now();
    // A publisher that fails at once must not hold the window back: it counts as started.
    await waitFor(() => ended || pubs.every((p) => p.bytesNow() > 0 || p.exited()), 'every publisher to send', 60_000, 100);
    await sleep(1000);
    const snap = () => ({ at: performance.now(), cpu: treeCpuSeconds(server.pid), wake: treeWakeups(server.pid), bytes: pubs.reduce((a, p) => a + p.bytesNow(), 0) });
    const s0 = snap();
    // Every publisher sends for `seconds` from its start; the last started before s0.
    await sleep(Math.max(1000, seconds * 1000 - (s0.at - started) - 2000));
    const s1 = snap();
    const results = await all;
    await sleep(300);
    const peak = rss.stop();
    const failed = results.filter((r) => r.code !== 0).length;
    if (failed > 0) {
      ctx.log(`  ${failed} of ${n} publishers to ${server.name} failed: ${results.find((r) => r.code !== 0)?.stderr.trim().slice(0, 300)}`);
      ctx.log(`  ${server.name} said: ${server.output().trim().split('\n').slice(-5).join('\n    ')}`);
    }
    const wall = (s1.at - s0.at) / 1000;
    const cpu = s1.cpu - s0.cpu;
    const bytes = s1.bytes - s0.bytes;
    const r: RealtimeRun = {
      server: server.name, publishers: n, bytes, cpuSeconds: cpu, wallSeconds: wall, cpuPerGb: cpu / (bytes / 1e9), failed,
      wakeupsPerSecond: (s1.wake - s0.wake) / wall, idleRssMb: idle / MIB, peakRssMb: peak / MIB, publisherCpuSeconds: reapedChildrenCpuSeconds() - pub0,
    };
    ctx.log(`  ${r.server.padEnd(32)} n=${String(n).padStart(2)} realtime  ${fmt(bytes / MB, 0)} MB in ${fmt(wall, 1)} s  cpu ${fmt(cpu, 2)} s → ${fmt(r.cpuPerGb, 2)} cpu-s/GB  ${fmt(r.wakeupsPerSecond, 0)} wake-ups/s  rss ${fmt(r.peakRssMb, 1)} MiB  (publishers ${fmt(r.publisherCpuSeconds, 1)} cpu-s)`);
    return r;
  } finally {
    await server.stop();
  }
}

/** What a server with no streams costs: every server started at once, measured over the same `seconds`. */
export interface IdleRun {
  server: string;
  cpuMsPerSecond: number;
  wakeupsPerSecond: number;
  rssMb: number;
}

/** Processes on the machine: what the sampler's /proc walk reads each second. */
function processCount(): number {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
}

async function idleRuns(ctx: BenchContext, servers: readonly { make: () => Promise<Server> }[], seconds: number): Promise<IdleRun[]> {
  const started: Server[] = [];
  try {
    for (const s of servers) started.push(await s.make());
    // Past start-up: proxy-rtmp's first ~20 s hold JIT work and a one-off full GC (about 60 ms of
    // CPU some 15 s after start), which are not what an idle server costs every second.
    await sleep(20_000);
    const before = started.map((s) => ({ cpu: treeCpuSeconds(s.pid), wake: treeWakeups(s.pid) }));
    await sleep(seconds * 1000);
    return started.map((s, i) => {
      const r = {
        server: s.name,
        cpuMsPerSecond: ((treeCpuSeconds(s.pid) - before[i]!.cpu) * 1000) / seconds,
        wakeupsPerSecond: (treeWakeups(s.pid) - before[i]!.wake) / seconds,
        rssMb: treeRssBytes(s.pid) / MIB,
      };
      ctx.log(`  ${r.server.padEnd(32)} idle ${seconds} s: ${fmt(r.cpuMsPerSecond, 2)} cpu-ms/s, ${fmt(r.wakeupsPerSecond, 1)} wake-ups/s, rss ${fmt(r.rssMb, 1)} MiB`);
      return r;
    });
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

/** Runs figure 1 for every server available: realtime first (the primary figure), then flood, then idle. */
export async function benchIngest(ctx: BenchContext): Promise<SectionResult & { runs: IngestRun[]; realtime: RealtimeRun[]; sender: SenderRun[] }> {
  const floodOnly = ctx.floodOnly === true;
  const counts = floodOnly ? [1] : [1, 8, 32];
  const totalBytes = (ctx.quick ? 250 : 1000) * MB;
  // The fast sender takes a few hundred MB/s to a GB/s: more bytes for a measurable time.
  const senderBytes = (ctx.quick ? 1000 : 3000) * MB;
  const senderRuns = ctx.quick ? 2 : 3;
  const seconds = ctx.quick ? 15 : 20;
  const idleSeconds = ctx.quick ? 15 : 60;
  const servers: { name: string; make: () => Promise<Server>; floor?: true }[] = [
    { name: 'proxy-rtmp', make: () => startOurs(ctx.bundlePath, { transcode: false }) },
  ];
  const notes: string[] = [];
  const baseline = ctx.baselineBundle;
  if (baseline !== undefined) {
    servers.push({ name: 'proxy-rtmp (baseline)', make: async () => ({ ...(await startOurs(baseline, { transcode: false })), name: 'proxy-rtmp (baseline)' }) });
    notes.push(`proxy-rtmp (baseline): the build ${baseline}, for before/after in the same run.`);
  }
  if (ctx.peers.nginx) servers.push({ name: 'nginx-rtmp', make: () => startNginx({ hls: false }) });
  else notes.push(`nginx-rtmp not measured: not installed (${NGINX_HINT}).`);
  if (ctx.peers.nms) servers.push({ name: 'node-media-server', make: () => startNms() });
  else notes.push(`Node-Media-Server not measured: not installed (${NMS_HINT}).`);
  servers.push({ name: 'node floor', make: () => startNodeFloor(), floor: true });

  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (err) {
      ctx.log(`  ${what} failed: ${(err as Error).message.split('\n')[0]}`);
      notes.push(`${what} failed: ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };
  const realtime: RealtimeRun[] = [];
  for (const n of floodOnly ? [] : counts) {
    for (const s of servers) {
      const r = await attempt(`${s.name} realtime with ${n} publishers`, () => realtimeRun(ctx, s.make, n, seconds));
      if (r !== undefined) realtime.push(r);
    }
  }
  const runs: IngestRun[] = [];
  for (const n of counts) {
    for (const s of servers) {
      const r = await attempt(`${s.name} flood with ${n} publishers`, () => run(ctx, s.make, n, totalBytes));
      if (r !== undefined) runs.push(r);
    }
  }
  const ceiling = await attempt('fast sender ceiling', () => senderCeiling(ctx, senderBytes));
  const sender: SenderRun[] = [];
  // 4096: ffmpeg's chunk size, what servers get from real publishers; 65536: fewer, larger chunks.
  for (const chunkSize of [4096, 65536]) {
    for (const s of servers) {
      // The floor stops parsing after the publish: it cannot answer the command that stops the clock.
      const r = await attempt(`${s.name} flood by the fast sender (${chunkSize}-byte chunks)`, () => senderRun(ctx, s.make, senderBytes, senderRuns, s.floor !== true, chunkSize));
      if (r !== undefined) sender.push(r);
    }
  }
  const idle = floodOnly ? [] : (await attempt('idle', () => idleRuns(ctx, [...servers, { make: () => startNodeFloor({ sampler: true }) }], idleSeconds))) ?? [];

  const vsNginx = (list: readonly IngestRun[], r: IngestRun): string => {
    const nginx = list.find((x) => x.publishers === r.publishers && x.server === 'nginx-rtmp');
    return nginx === undefined ? '–' : fmt(r.cpuPerGb / nginx.cpuPerGb, 2);
  };
  const table = [['publishers', 'server', 'MB ingested', 's measured', 'CPU s', 'CPU s / GB', '× nginx-rtmp', 'wake-ups / s', 'peak RSS MiB', "publishers' own CPU s"]];
  for (const r of realtime) {
    table.push([String(r.publishers), r.server, fmt(r.bytes / MB, 0), fmt(r.wallSeconds, 1), fmt(r.cpuSeconds, 2), fmt(r.cpuPerGb, 2), vsNginx(realtime, r), fmt(r.wakeupsPerSecond, 0), fmt(r.peakRssMb, 1), fmt(r.publisherCpuSeconds, 1)]);
  }
  const floodTable = [['publishers', 'server', 'MB ingested', 'wall s', 'MB/s', 'CPU s', 'CPU s / GB', '× nginx-rtmp']];
  for (const r of runs) {
    floodTable.push([String(r.publishers), r.server, fmt(r.bytes / MB, 0), fmt(r.wallSeconds, 1), fmt(r.bytes / MB / r.wallSeconds, 0), fmt(r.cpuSeconds, 2), fmt(r.cpuPerGb, 3), vsNginx(runs, r)]);
  }
  const senderTable = [['chunk size', 'server', 'MB ingested', 'wall s', 'MB/s', '× nginx-rtmp MB/s', 'CPU s', 'CPU s / GB', '× nginx-rtmp CPU/GB', 'MB acknowledged', "sender's CPU s"]];
  if (ceiling !== undefined) senderTable.push(['4096', '(the sender alone, into a Python sink)', fmt(senderBytes / MB, 0), '–', fmt(ceiling.mbPerSecond, 0), '–', '–', '–', '–', '–', fmt(ceiling.senderCpuSeconds, 2)]);
  for (const r of sender) {
    const mbps = r.bytes / MB / r.wallSeconds;
    const nginxSender = sender.find((x) => x.server === 'nginx-rtmp' && x.chunkSize === r.chunkSize);
    senderTable.push([String(r.chunkSize), r.server, fmt(r.bytes / MB, 0), fmt(r.wallSeconds, 2), fmt(mbps, 0), nginxSender === undefined ? '–' : fmt(mbps / (nginxSender.bytes / MB / nginxSender.wallSeconds), 2),
      fmt(r.cpuSeconds, 2), fmt(r.cpuPerGb, 3), nginxSender === undefined ? '–' : fmt(r.cpuPerGb / nginxSender.cpuPerGb, 2), r.acked > 0 ? fmt(r.acked / MB, 0) : r.synced ? 'sends none' : '–', fmt(r.senderCpuSeconds, 2)]);
  }
  const live = 32;
  const memoryTable = [['server', 'idle RSS MiB', `peak RSS MiB, ${live} live streams`, 'RSS per stream MiB']];
  for (const r of realtime.filter((x) => x.publishers === live)) {
    memoryTable.push([r.server, fmt(r.idleRssMb, 1), fmt(r.peakRssMb, 1), fmt((r.peakRssMb - r.idleRssMb) / live, 2)]);
  }
  const idleTable = [['server', 'CPU ms per s', 'wake-ups per s', 'RSS MiB']];
  for (const r of idle) idleTable.push([r.server, fmt(r.cpuMsPerSecond, 2), fmt(r.wakeupsPerSecond, 1), fmt(r.rssMb, 1)]);

  const f = ctx.ingestSource;
  const l = ctx.ladderSource;
  notes.push(
    `Realtime (the primary figure): a fresh server, then n publishers \`ffmpeg -re -t ${seconds} -i ${l.width}x${l.height}p${l.fps}.flv -c copy -f flv\` (${l.videoKbps} kbps H.264 + AAC 128k) at once; CPU, wake-ups and bytes (as the publishers report them) over the steady state, from 1 s after the last publisher started sending to 2 s before the end: not the sessions' set-up. Real publishers send in real time: the server wakes for each few kB, so this is where per-read and per-message work shows.`,
    'CPU: utime+stime of the server process tree (nginx: master + 1 worker) from /proc, publishers excluded; "× nginx-rtmp" is CPU per GB divided by nginx-rtmp\'s in the same row group. Wake-ups: voluntary context switches of all the tree\'s threads, per second measured. "publishers\' own CPU": the ffmpeg publishers over their whole run, which share the machine with the server.',
    `node floor: a bare \`node:net\` server (bench/lib/net-floor.ts) that negotiates the publish with proxy-rtmp's pure ServerConnection, then reads and discards every byte: the cost of reading the same sockets at the same pace in Node, before any RTMP parsing.`,
    `Flood (second table): a fresh server, warmed up with 50 MB, then n publishers \`ffmpeg -stream_loop k -i ${f.width}x${f.height}p${f.fps}.flv -c copy -f flv\` (${f.videoKbps} kbps) without -re, ${fmt(totalBytes / MB, 0)} MB in all (FLV bytes as ffmpeg counts them).`,
    `Flood by one fast publisher (first flood table): bench/lib/flood-sender.ts, a Node process of its own that does the handshake, connect, createStream and publish, then writes a pre-serialized RTMP chunk stream of ${f.width}x${f.height}p${f.fps}.flv's tags (every message a type 0 chunk then type 3 continuations, chunk size 4096 as ffmpeg's, then again with 65536), looped like -stream_loop (metadata and sequence headers once, timestamps increasing across loops), as fast as the socket takes it. ${fmt(senderBytes / MB, 0)} MB (RTMP bytes) per flood on a fresh server warmed up with 200 MB; the fastest of ${senderRuns} floods on the same server. The clock stops when the server answers a createStream sent after the last media byte (RTMP is in order: the server has parsed all before it); the Node floor does not parse after the publish, so its clock stops when the last byte is in the kernel. "MB acknowledged": the server's own count of bytes read (RTMP Acknowledgement, asked for with a 5 MB window; Node-Media-Server sends none). A server that refuses the publish or drops the connection fails the row. The sender's ceiling row: the same bytes into a Python socket that discards, no RTMP.`,
    `Idle: every server started at once with no publisher, measured over the same ${idleSeconds} s after 20 s of start-up (the one-off work after start left out). "node floor + SystemSampler": the floor running proxy-rtmp's system sampler (src/metrics/sampler.ts, a reading of /proc every second), to show that sampler's own cost (it reads our own process's and its descendants' procfs files; ${processCount()} processes on the machine when measured).`,
  );
  return {
    title: '1. Ingest cost (transcoding off)',
    table: floodOnly ? [['(realtime not run: --flood-only)']] : table,
    notes,
    extra: [
      { title: 'Flood, one publisher that is not the bottleneck (bench/lib/flood-sender.ts)', table: senderTable },
      { title: 'Flood: ffmpeg publishers without -re, as fast as they send (one ffmpeg tops out near 160 MB/s: at n = 1 the publisher is the bottleneck)', table: floodTable },
      { title: `Memory with ${live} live streams (from the realtime run)`, table: memoryTable },
      { title: `Idle: no streams, ${idleSeconds} s`, table: idleTable },
    ],
    runs,
    realtime,
    sender,
  };
}
