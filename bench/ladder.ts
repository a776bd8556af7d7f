/**
 * Figure 2, ladder cost: CPU of proxy-rtmp plus its ffmpeg per media-second
 * for a 720p30 source and the default ladder (720p, 480p, 360p: 1080p is never
 * an upscale), next to the floor: one bare ffmpeg running the same ladder,
 * with the very arguments proxy-rtmp generates, reading the same file at the
 * same real-time pace (`-re`). The ratio is what the server adds.
 *
 * The filter graph itself is compared on bare ffmpeg: every rung scaled from
 * the source (split first), the scalers chained (720p → 480p → 360p), and the
 * source passed through as the top rung (`-c:v copy`, the source already has
 * the rung's size and 2 s keyframes) with the rest chained.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CONFIG } from '../src/config/index.ts';
import { buildFfmpegArgs, formatFps } from '../src/transcode/ffmpeg-args.ts';
import { DEFAULT_LADDER, planLadder, type Rung } from '../src/transcode/ladder.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import type { Input } from './lib/inputs.ts';
import { descendants, ownCpuSeconds, reapedChildrenCpuSeconds, treeCpuSeconds } from './lib/proc.ts';
import { publish } from './lib/publish.ts';
import { NGINX_HINT, startNginx, startOurs } from './lib/servers.ts';
import { fmt, start, waitFor } from './lib/util.ts';

export interface LadderRun {
  name: string;
  cpuSeconds: number;
  mediaSeconds: number;
  /** Video segments written, all rungs together. */
  segments: number | undefined;
  /** proxy-rtmp only: the server process alone, without its ffmpeg. */
  serverSeconds?: number;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'proxy-rtmp-ladder-'));

/**
 * Video segments in an output directory. The dash muxer numbers
 * representations in output order: the `rungs` video streams, then audio.
 */
function countSegments(dir: string, rungs: number): number {
  try {
    return readdirSync(dir).filter((f) => {
      const m = /^chunk-(\d+)-\d+\.m4s$/.exec(f);
      return m !== null && Number(m[1]) < rungs;
    }).length;
  } catch {
    return 0;
  }
}

/**
 * Video segments proxy-rtmp packaged for `key`, read off its playlists while
 * the output is still served (the reconnect grace): per variant, the media
 * sequence number of its last segment.
 */
async function countServedSegments(httpPort: number, key: string): Promise<number> {
  return (await servedSegmentsPerVariant(httpPort, key)).reduce((a, b) => a + b, 0);
}

/** Per variant of `key`'s master playlist, the media sequence number of its last segment (0 when none). */
export async function servedSegmentsPerVariant(httpPort: number, key: string): Promise<number[]> {
  const base = `http://127.0.0.1:${httpPort}/streams/${key}/`;
  const master = await fetch(`${base}master.m3u8`).then((r) => (r.ok ? r.text() : ''), () => '');
  const counts: number[] = [];
  for (const variant of master.split('\n').filter((l) => l.endsWith('.m3u8') && !l.startsWith('#'))) {
    const media = await fetch(base + variant).then((r) => (r.ok ? r.text() : ''), () => '');
    const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)?.[1] ?? 0);
    const listed = (media.match(/^#EXTINF:/gm) ?? []).length;
    counts.push(listed > 0 ? sequence + listed - 1 : 0);
  }
  return counts;
}

/** The rungs proxy-rtmp plans for the source (its onMetaData carries 30 fps and the bitrate). */
export function rungsFor(ctx: BenchContext): Rung[] {
  const s = ctx.ladderSource;
  return planLadder(DEFAULT_LADDER, { width: s.width, height: s.height, fps: s.fps, bitrateKbps: s.videoKbps }, 1080);
}

/** proxy-rtmp's ffmpeg arguments with the stdin input replaced by the file (`source`, default the ladder source), read at native pace. */
export function floorArgs(ctx: BenchContext, rungs: Rung[], outDir: string, seconds = ctx.quick ? 10 : undefined, source: Input = ctx.ladderSource): string[] {
  const t = DEFAULT_CONFIG.transcode;
  const args = buildFfmpegArgs({
    rungs,
    encoder: 'x264',
    preset: t.preset,
    segmentSeconds: t.segmentSeconds,
    windowSegments: t.windowSegments,
    audio: true,
    audioKbps: t.audioKbps,
    outputDir: outDir,
  });
  const i = args.indexOf('pipe:0');
  if (i < 3 || args[i - 1] !== '-i') throw new Error('unexpected ffmpeg arguments: no -i pipe:0');
  args.splice(i - 1, 2, '-re', ...(seconds === undefined ? [] : ['-t', String(seconds)]), '-i', source.path);
  return args;
}

function dar(rungs: readonly Rung[]): string {
  const top = rungs[0]!;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(top.width, top.height);
  return `setdar=${top.width / g}/${top.height / g}`;
}

/** Every rung scaled from the decoded source: split first. */
function splitGraph(rungs: readonly Rung[]): string {
  const labels = rungs.map((_, i) => `[s${i}]`).join('');
  return [`[0:v:0]split=${rungs.length}${labels}`, ...rungs.map((r, i) => `[s${i}]fps=${formatFps(r.fps)},scale=${r.width}:${r.height},${dar(rungs)}[v${i}]`)].join(';');
}

/** Each rung scaled from the one above it; rung `from` is the first to come out of the graph. */
function chainGraph(rungs: readonly Rung[], from = 0): string {
  const parts: string[] = [];
  let input = '[0:v:0]';
  for (let i = from; i < rungs.length; i++) {
    const r = rungs[i]!;
    const fps = i === from || r.fps !== rungs[i - 1]!.fps ? `fps=${formatFps(r.fps)},` : '';
    const last = i === rungs.length - 1;
    parts.push(`${input}${fps}scale=${r.width}:${r.height},${dar(rungs)}${last ? `[v${i}]` : `,split=2[v${i}][c${i}]`}`);
    input = `[c${i}]`;
  }
  return parts.join(';');
}

function withGraph(args: string[], graph: string): string[] {
  const out = [...args];
  out[out.indexOf('-filter_complex') + 1] = graph;
  return out;
}

/** The top rung is the source's own video (`-c:v:0 copy`); the others are chained from it. */
export function passthroughArgs(args: string[], rungs: readonly Rung[]): string[] {
  const out = withGraph(args, chainGraph(rungs, 1));
  out[out.indexOf('[v0]')] = '0:v:0';
  const result: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a === '-c:v:0') {
      result.push(a, 'copy');
      i++;
    } else if (a.startsWith('-') && a.endsWith(':v:0')) {
      i++; // encoder options of the copied stream
    } else {
      result.push(a);
    }
  }
  return result;
}

/** Runs one bare ffmpeg to the end; its CPU is what this process reaps from it. */
export async function bare(ctx: BenchContext, name: string, args: string[], outDir: string, mediaSeconds: number, rungs: number): Promise<LadderRun> {
  const cpu0 = reapedChildrenCpuSeconds();
  const c = start(ctx.ffmpeg.path, args);
  const code = await c.closed;
  const cpu = reapedChildrenCpuSeconds() - cpu0;
  if (code !== 0) throw new Error(`${name}: ffmpeg exited ${code}: ${c.output().slice(-1500)}`);
  const r = { name, cpuSeconds: cpu, mediaSeconds, segments: countSegments(outDir, rungs) };
  ctx.log(`  ${name.padEnd(58)} ${fmt(cpu, 2)} cpu-s → ${fmt(cpu / mediaSeconds, 3)} per media-s, ${r.segments} video segments`);
  return r;
}

/** What differs between proxy-rtmp runs: the source, extra environment, the row's name. */
export interface OursOptions {
  source?: Input;
  env?: Record<string, string>;
  name?: string;
}

/** proxy-rtmp with transcoding on, a real-time publisher of the source; its CPU with its ffmpeg's. */
export async function ours(ctx: BenchContext, mediaSeconds: number, rungs: number, o: OursOptions = {}): Promise<LadderRun & { output: string; perVariant: number[] }> {
  const server = await startOurs(ctx.bundlePath, { transcode: true, ffmpegPath: ctx.ffmpeg.path, env: { RTMP_LINGER_SECONDS: '600', ...o.env } });
  try {
    await sleep(300);
    const cpu0 = treeCpuSeconds(server.pid);
    const own0 = ownCpuSeconds(server.pid);
    const pub = publish((o.source ?? ctx.ladderSource).path, server.url('ladder'), { realtime: true, ...(ctx.quick ? { seconds: 10 } : {}) });
    const done = await pub.done;
    if (done.code !== 0) throw new Error(`publisher failed: ${done.stderr.slice(-500)}`);
    // Unpublish ends ffmpeg's stdin: it finishes the playlists and exits; the server reaps it.
    await waitFor(() => descendants(server.pid, 'ffmpeg').length === 0, 'the transcoding ffmpeg to finish', 120_000, 50);
    await sleep(200);
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    const own = ownCpuSeconds(server.pid) - own0;
    const r = {
      name: o.name ?? 'proxy-rtmp: server + its ffmpeg (publisher -re -c copy)',
      cpuSeconds: cpu,
      serverSeconds: own,
      mediaSeconds,
      segments: await countServedSegments(server.httpPort!, 'ladder'),
      perVariant: await servedSegmentsPerVariant(server.httpPort!, 'ladder'),
      output: server.output(),
    };
    ctx.log(`  ${r.name.padEnd(58)} ${fmt(cpu, 2)} cpu-s (server process ${fmt(own, 2)}) → ${fmt(cpu / mediaSeconds, 3)} per media-s, ${r.segments} video segments`);
    return r;
  } finally {
    await server.stop();
  }
}

async function nginxHls(ctx: BenchContext, mediaSeconds: number): Promise<LadderRun> {
  const server = await startNginx({ hls: true });
  try {
    await sleep(300);
    const cpu0 = treeCpuSeconds(server.pid);
    const done = await publish(ctx.ladderSource.path, server.url('ladder'), { realtime: true, ...(ctx.quick ? { seconds: 10 } : {}) }).done;
    await sleep(300);
    const cpu = treeCpuSeconds(server.pid) - cpu0;
    if (done.code !== 0) throw new Error(`publisher failed: ${done.stderr.slice(-500)}`);
    const r = { name: 'nginx-rtmp, hls on (remux only: one rendition, no transcoding)', cpuSeconds: cpu, mediaSeconds, segments: undefined };
    ctx.log(`  ${r.name.padEnd(58)} ${fmt(cpu, 2)} cpu-s → ${fmt(cpu / mediaSeconds, 4)} per media-s`);
    return r;
  } finally {
    await server.stop();
  }
}

/**
 * The graphs without encoders: decode + filters into `-f null` (wrapped frames),
 * one thread, the whole file as fast as it goes. The encoders dwarf the
 * scalers, so only this isolates what the graph choice saves.
 */
async function graphOnly(ctx: BenchContext, rungs: Rung[], reps: number): Promise<string[][]> {
  const graphs: [string, string][] = [
    ['decode only (split, no filters)', `[0:v:0]split=${rungs.length}${rungs.map((_, i) => `[v${i}]`).join('')}`],
    ['split: every rung scaled from the source', splitGraph(rungs)],
    ['chain: each rung scaled from the one above', chainGraph(rungs)],
  ];
  const cpu = new Map<string, number[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, graph] of graphs) {
      const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-threads', '1', '-filter_complex_threads', '1', '-i', ctx.ladderSource.path, '-filter_complex', graph];
      rungs.forEach((_, i) => args.push('-map', `[v${i}]`, '-f', 'null', '-'));
      const cpu0 = reapedChildrenCpuSeconds();
      const c = start(ctx.ffmpeg.path, args);
      if ((await c.closed) !== 0) throw new Error(`${name}: ffmpeg failed: ${c.output().slice(-1000)}`);
      cpu.set(name, [...(cpu.get(name) ?? []), reapedChildrenCpuSeconds() - cpu0]);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const decode = mean(cpu.get(graphs[0]![0])!);
  const table = [['graph (no encoding)', 'CPU s (each)', 'CPU s per media-s', 'filters alone, CPU s per media-s']];
  for (const [name] of graphs) {
    const xs = cpu.get(name)!;
    table.push([name, xs.map((x) => fmt(x, 2)).join(', '), fmt(mean(xs) / ctx.ladderSource.seconds, 4), fmt((mean(xs) - decode) / ctx.ladderSource.seconds, 4)]);
    ctx.log(`  graph only: ${name.padEnd(44)} ${fmt(mean(xs), 2)} cpu-s`);
  }
  return table;
}

/** Runs figure 2. */
export async function benchLadder(ctx: BenchContext): Promise<SectionResult> {
  const mediaSeconds = ctx.quick ? 10 : ctx.ladderSource.seconds;
  const rungs = rungsFor(ctx);
  const notes: string[] = [];
  const runs: LadderRun[] = [];
  const dirs: string[] = [];
  const outDir = () => {
    const d = tmp();
    dirs.push(d);
    return d;
  };
  const floorName = 'floor: bare ffmpeg, proxy-rtmp\'s arguments, -re from the file';
  try {
    // proxy-rtmp and its floor alternate, so slow drifts of the machine hit both alike.
    for (let rep = 0; rep < (ctx.quick ? 1 : 2); rep++) {
      runs.push(await ours(ctx, mediaSeconds, rungs.length));
      const d = outDir();
      runs.push(await bare(ctx, floorName, floorArgs(ctx, rungs, d), d, mediaSeconds, rungs.length));
    }
    let d = outDir();
    const fullSpeed = floorArgs(ctx, rungs, d).filter((a) => a !== '-re');
    runs.push(await bare(ctx, 'bare ffmpeg, proxy-rtmp\'s arguments, full speed (no -re, no real-time pacing)', fullSpeed, d, mediaSeconds, rungs.length));
    d = outDir();
    runs.push(await bare(ctx, 'bare ffmpeg, graph: split, every rung scaled from the source', withGraph(floorArgs(ctx, rungs, d), splitGraph(rungs)), d, mediaSeconds, rungs.length));
    d = outDir();
    runs.push(await bare(ctx, 'bare ffmpeg, graph: scalers chained 720p → 480p → 360p', withGraph(floorArgs(ctx, rungs, d), chainGraph(rungs)), d, mediaSeconds, rungs.length));
    d = outDir();
    runs.push(await bare(ctx, 'bare ffmpeg, top rung = source passed through, rest chained', passthroughArgs(floorArgs(ctx, rungs, d), rungs), d, mediaSeconds, rungs.length));
    if (ctx.peers.nginx) runs.push(await nginxHls(ctx, mediaSeconds));
    else notes.push(`nginx-rtmp HLS not measured: not installed (${NGINX_HINT}).`);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  // Repeated runs are averaged.
  const names = [...new Set(runs.map((r) => r.name))];
  const perMediaSecond = (name: string) => {
    const rs = runs.filter((r) => r.name === name);
    return rs.reduce((acc, r) => acc + r.cpuSeconds / r.mediaSeconds, 0) / rs.length;
  };
  const floor = perMediaSecond(floorName);
  const table = [['run', 'runs', 'CPU s (each)', 'CPU s per media-s', 'vs floor', 'video segments']];
  for (const name of names) {
    const rs = runs.filter((r) => r.name === name);
    const per = perMediaSecond(name);
    table.push([
      name, String(rs.length), rs.map((r) => fmt(r.cpuSeconds, 2)).join(', '), fmt(per, 3),
      fmt(per / floor, 3), rs.map((r) => (r.segments === undefined ? '–' : String(r.segments))).join(', '),
    ]);
  }
  const server = runs.filter((r) => r.serverSeconds !== undefined);
  if (server.length > 0) {
    const per = server.reduce((acc, r) => acc + r.serverSeconds! / r.mediaSeconds, 0) / server.length;
    table.push([
      'of which the proxy-rtmp process itself (ingest, FLV feed to ffmpeg, timers; not its ffmpeg)', String(server.length),
      server.map((r) => fmt(r.serverSeconds, 2)).join(', '), fmt(per, 4), fmt(per / floor, 3), '–',
    ]);
  }
  const s = ctx.ladderSource;
  notes.push(
    `ffmpeg for proxy-rtmp and the floor alike: ${ctx.ffmpeg.version} (${ctx.ffmpeg.path}).`,
    `Source: ${s.width}x${s.height}p${s.fps} H.264 ${s.videoKbps} kbps (keyframe every 2 s) + AAC, ${mediaSeconds} s; rungs ${rungs.map((r) => `${r.name} ${r.bitrateKbps}k`).join(', ')}, preset ${DEFAULT_CONFIG.transcode.preset}, 2 s CMAF segments, AAC ${DEFAULT_CONFIG.transcode.audioKbps}k.`,
    'CPU: proxy-rtmp = server process + its ffmpeg (reaped children included); bare ffmpeg = what this process reaps from it. Both work at native pace, so the encoders run under the same real-time conditions; ffmpeg\'s own -re pacing (a 10 ms polling loop) is part of the floor, while proxy-rtmp\'s ffmpeg blocks on its stdin pipe instead.',
    'nginx-rtmp makes HLS by remuxing the one published rendition: it is the cost of packaging only, not comparable with an encoded ladder; shown for scale.',
  );
  const graphTable = await graphOnly(ctx, rungs, ctx.quick ? 1 : 2);
  notes.push(`Graph only: the ${ctx.ladderSource.seconds} s file decoded and filtered into \`-f null\`, one thread, no encoders, ${ctx.quick ? 1 : 2} run(s) each, alternating.`);
  return { title: '2. Ladder cost (720p30 source, default ladder)', table, notes, extra: [{ title: 'Filter graph alone (what the graph choice changes)', table: graphTable }] };
}
