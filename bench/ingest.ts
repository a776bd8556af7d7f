/**
 * Figure 1, ingest cost: server CPU-seconds per GB ingested with transcoding
 * off, at 1, 8 and 32 concurrent publishers, and RSS per stream; the same load
 * on nginx-rtmp (`live on; record off;`) and Node-Media-Server.
 *
 * Publishers run `ffmpeg -stream_loop n -i file -c copy -f flv` without `-re`:
 * every run moves a fixed amount of data as fast as the server takes it, so
 * CPU per GB is not diluted by idle time. Only the server's own process tree is
 * measured (utime + stime from /proc), never the publishers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { peakRss, treeCpuSeconds, treeRssBytes } from './lib/proc.ts';
import { publish } from './lib/publish.ts';
import { NGINX_HINT, NMS_HINT, startNginx, startNms, startOurs, type Server } from './lib/servers.ts';
import { fmt } from './lib/util.ts';

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

/** Memory of one server with live (real-time) publishers. */
export interface MemoryRun {
  server: string;
  publishers: number;
  idleRssMb: number;
  rssPerStreamMb: number;
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
    ctx.log(`  ${r.server.padEnd(24)} n=${String(n).padStart(2)}  ${fmt(bytes / MB, 0)} MB in ${fmt(wall, 1)} s  cpu ${fmt(cpu, 2)} s  → ${fmt(r.cpuPerGb, 3)} cpu-s/GB`);
    return r;
  } finally {
    await server.stop();
  }
}

/** RSS per stream: `n` real-time publishers for a few seconds; (RSS then − RSS before) / n. */
async function memory(ctx: BenchContext, make: () => Promise<Server>, n: number, seconds: number): Promise<MemoryRun> {
  const server = await make();
  try {
    await sleep(500);
    const idle = treeRssBytes(server.pid);
    const pubs = Array.from({ length: n }, (_, i) => publish(ctx.ingestSource.path, server.url(`rss_${i}`), { realtime: true, loops: -1 }));
    await sleep(seconds * 1000);
    const rss = peakRss(server.pid, 100);
    await sleep(1000);
    const peak = rss.stop();
    for (const p of pubs) p.kill('SIGINT');
    await Promise.all(pubs.map((p) => p.done));
    const r = { server: server.name, publishers: n, idleRssMb: idle / MIB, rssPerStreamMb: Math.max(0, peak - idle) / n / MIB };
    ctx.log(`  ${r.server.padEnd(24)} ${n} live streams: idle ${fmt(r.idleRssMb, 1)} MiB, +${fmt(r.rssPerStreamMb, 2)} MiB per stream`);
    return r;
  } finally {
    await server.stop();
  }
}

/** Runs figure 1 for every server available. */
export async function benchIngest(ctx: BenchContext): Promise<SectionResult & { runs: IngestRun[] }> {
  const counts = [1, 8, 32];
  const totalBytes = (ctx.quick ? 250 : 1000) * MB;
  const servers: { name: string; make: () => Promise<Server> }[] = [
    { name: 'proxy-rtmp', make: () => startOurs(ctx.bundlePath, { transcode: false }) },
  ];
  const notes: string[] = [];
  if (ctx.peers.nginx) servers.push({ name: 'nginx-rtmp', make: () => startNginx({ hls: false }) });
  else notes.push(`nginx-rtmp not measured: not installed (${NGINX_HINT}).`);
  if (ctx.peers.nms) servers.push({ name: 'node-media-server', make: () => startNms() });
  else notes.push(`Node-Media-Server not measured: not installed (${NMS_HINT}).`);

  const runs: IngestRun[] = [];
  for (const n of counts) {
    for (const s of servers) {
      try {
        runs.push(await run(ctx, s.make, n, totalBytes));
      } catch (err) {
        ctx.log(`  ${s.name} n=${n} failed: ${(err as Error).message.split('\n')[0]}`);
        notes.push(`${s.name} with ${n} publishers failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  const live = 32;
  const memoryRuns: MemoryRun[] = [];
  for (const s of servers) {
    try {
      memoryRuns.push(await memory(ctx, s.make, live, ctx.quick ? 3 : 5));
    } catch (err) {
      notes.push(`${s.name} memory run failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const table = [['publishers', 'server', 'MB ingested', 'wall s', 'CPU s', 'CPU s / GB', 'vs proxy-rtmp']];
  for (const n of counts) {
    const ours = runs.find((r) => r.publishers === n && r.server === 'proxy-rtmp');
    for (const r of runs.filter((x) => x.publishers === n)) {
      table.push([
        String(n), r.server, fmt(r.bytes / MB, 0), fmt(r.wallSeconds, 1), fmt(r.cpuSeconds, 2), fmt(r.cpuPerGb, 3),
        ours === undefined || r === ours ? '1.00' : fmt(r.cpuPerGb / ours.cpuPerGb, 2),
      ]);
    }
  }
  const memoryTable = [['server', 'idle RSS MiB', `RSS per stream MiB (${live} live streams)`]];
  for (const m of memoryRuns) memoryTable.push([m.server, fmt(m.idleRssMb, 1), fmt(m.rssPerStreamMb, 3)]);
  const f = ctx.ingestSource;
  notes.push(
    `CPU runs: a fresh server, warmed up with 50 MB, then n publishers \`ffmpeg -stream_loop k -i ${f.width}x${f.height}p${f.fps}.flv -c copy -f flv\` (${f.videoKbps} kbps H.264 + AAC) without -re, ${fmt(totalBytes / MB, 0)} MB in all (FLV bytes as ffmpeg counts them).`,
    'CPU: utime+stime of the server process tree (nginx: master + 1 worker) from /proc, publishers excluded. "vs proxy-rtmp" below 1 means the peer used less CPU per GB.',
    `Memory: ${live} publishers with -re (live pace) for a few seconds; (peak RSS of the server tree − its RSS before) / ${live}.`,
  );
  return { title: '1. Ingest cost (transcoding off)', table, notes, extra: [{ title: 'Memory per live stream', table: memoryTable }], runs };
}
