/**
 * Figure 3, publish → playable: from the server's NetStream.Publish.Start to
 * the moment a player could start: proxy-rtmp's master.m3u8 is served and its
 * first variant playlist lists a segment. The publisher sends the 720p file's
 * tags at their own pace (as `ffmpeg -re -c copy` would). The same for
 * nginx-rtmp's HLS (one remuxed rendition, 2 s fragments). Median of several
 * runs, each on a new stream key.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { floorArgs, rungsFor } from './ladder.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { descendants, reapedChildrenCpuSeconds } from './lib/proc.ts';
import { publishPaced, readFlvTags } from './lib/flv-publisher.ts';
import { NGINX_HINT, startNginx, startOurs, type Server } from './lib/servers.ts';
import { fmt, median, start, waitFor } from './lib/util.ts';

async function text(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url);
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** True when the playlist at `url` (a master or a media playlist) leads to at least one segment. */
async function playable(url: string): Promise<boolean> {
  const body = await text(url);
  if (body === undefined) return false;
  if (body.includes('#EXTINF')) return true;
  if (!body.includes('#EXT-X-STREAM-INF')) return false;
  const variant = body.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
  if (variant === undefined) return false;
  return (await text(new URL(variant, url).href))?.includes('#EXTINF') ?? false;
}

type Tags = ReturnType<typeof readFlvTags>;

async function once(server: Server, key: string, tags: Tags): Promise<number> {
  const pub = await publishPaced(server.rtmpPort, key, tags);
  try {
    await waitFor(() => playable(server.playlistUrl!(key)), `${server.name} to serve a playable ${key}`, 20_000, 10);
    return (performance.now() - pub.publishedAt) / 1000;
  } finally {
    pub.stop();
    // Let the stream's ffmpeg finish so the next run starts on an idle machine.
    await waitFor(() => descendants(server.pid, 'ffmpeg').length === 0, 'the transcoding ffmpeg to stop', 30_000, 50).catch(() => {});
    await sleep(300);
  }
}

async function series(ctx: BenchContext, server: Server, runs: number): Promise<number[]> {
  const tags = readFlvTags(ctx.ladderSource.path);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await once(server, `latency_${i}`, tags);
    ctx.log(`  ${server.name.padEnd(12)} run ${i + 1}: ${fmt(s, 2)} s`);
    out.push(s);
  }
  return out;
}

/** x264 settings that bound the encoder's output delay, tried on the floor's arguments. */
const ENCODER_VARIANTS: { name: string; options: (i: number) => string[] }[] = [
  { name: 'proxy-rtmp\'s x264 settings (preset veryfast: rc-lookahead 10, 3 B-frames, frame threads)', options: () => [] },
  { name: '+ x264-params sliced-threads=1:rc-lookahead=0 (B-frames kept)', options: (i) => [`-x264-params:v:${i}`, 'sliced-threads=1:rc-lookahead=0'] },
  { name: '+ tune zerolatency (no B-frames, no look-ahead, sliced threads)', options: (i) => [`-tune:v:${i}`, 'zerolatency'] },
];

/**
 * What blocks publish → playable: the first segment can only close once the
 * encoder has output the frame at 2 s, which x264 holds back for its
 * look-ahead, B-frames and frame threads. Measured on bare ffmpeg reading the
 * file at native pace: spawn → first segment of the top rung on disk.
 */
async function encoderDelay(ctx: BenchContext): Promise<string[][]> {
  const rungs = rungsFor(ctx);
  const table = [['x264 settings (bare ffmpeg, -re from the file)', 'spawn → first segment s', 'CPU s per media-s']];
  for (const v of ENCODER_VARIANTS) {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-delay-'));
    try {
      const seconds = 6;
      const args = floorArgs(ctx, rungs, dir, seconds);
      for (let i = 0; i < rungs.length; i++) args.splice(args.indexOf(`-c:v:${i}`), 0, ...v.options(i));
      const cpu0 = reapedChildrenCpuSeconds();
      const t0 = performance.now();
      const c = start(ctx.ffmpeg.path, args);
      let first: number | undefined;
      while (first === undefined && c.child.exitCode === null) {
        if (existsSync(join(dir, 'chunk-0-00001.m4s'))) first = (performance.now() - t0) / 1000;
        else await sleep(5);
      }
      if ((await c.closed) !== 0) throw new Error(`ffmpeg failed: ${c.output().slice(-800)}`);
      const cpu = reapedChildrenCpuSeconds() - cpu0;
      table.push([v.name, fmt(first, 2), fmt(cpu / seconds, 3)]);
      ctx.log(`  encoder delay: ${v.name.slice(0, 60).padEnd(60)} first segment ${fmt(first, 2)} s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return table;
}

/** Runs figure 3. */
export async function benchLatency(ctx: BenchContext): Promise<SectionResult> {
  const runs = ctx.quick ? 3 : 5;
  const table = [['server', 'median s', 'min s', 'max s', 'runs', 'target (segment + 0.3 s)']];
  const notes: string[] = [];
  // The source (4000k, over the 720p rung's 3000k budget) is a passthrough candidate, measured over 2 GOPs before
  // ffmpeg starts; with passthrough off, only over the 1-GOP window that caps the rungs (issue 15).
  const configs: { name: string; env: Record<string, string> }[] = [
    { name: 'proxy-rtmp (720p ladder, 3 rungs; passthrough candidate, 2-GOP window)', env: {} },
    { name: 'proxy-rtmp (the same, RTMP_PASSTHROUGH=false: 1-GOP window)', env: { RTMP_PASSTHROUGH: 'false' } },
  ];
  for (const config of configs) {
    const ours = await startOurs(ctx.bundlePath, { transcode: true, ffmpegPath: ctx.ffmpeg.path, env: { RTMP_LINGER_SECONDS: '0', ...config.env } });
    try {
      const s = await series(ctx, ours, runs);
      table.push([config.name, fmt(median(s), 2), fmt(Math.min(...s), 2), fmt(Math.max(...s), 2), String(runs), '2.30']);
    } finally {
      await ours.stop();
    }
  }
  if (ctx.peers.nginx) {
    const nginx = await startNginx({ hls: true });
    try {
      const s = await series(ctx, nginx, runs);
      table.push(['nginx-rtmp HLS (remux, 2 s fragments)', fmt(median(s), 2), fmt(Math.min(...s), 2), fmt(Math.max(...s), 2), String(runs), '–']);
    } finally {
      await nginx.stop();
    }
  } else {
    notes.push(`nginx-rtmp not measured: not installed (${NGINX_HINT}).`);
  }
  const delays = await encoderDelay(ctx);
  notes.push(
    'Clock starts when the server answers NetStream.Publish.Start (an in-process publisher then sends the file\'s FLV tags at their own pace, as `ffmpeg -re -c copy` does), stops when the master playlist and its first variant playlist with an #EXTINF are served over HTTP (polled every 10 ms).',
    'A 2 s segment cannot be complete before 2 s of media have arrived: the floor for any server is about 2 s.',
  );
  notes.push('Encoder delay table: bare ffmpeg with proxy-rtmp\'s arguments and the x264 options shown, reading 6 s of the file with -re; the clock includes ffmpeg\'s own start (about 0.2 s here), which in proxy-rtmp overlaps the publish.');
  return { title: '3. Publish → first playable playlist', table, notes, extra: [{ title: 'What the first segment waits for: x264\'s output delay', table: delays }] };
}
