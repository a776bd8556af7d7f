/**
 * Figure 6, passthrough (issue 15): CPU per media-second of the whole ladder
 * from a 1080p30 4 Mbps H.264 source (2 s GOP) published in real time, three
 * cases in one run, alternating: proxy-rtmp with passthrough (the source is
 * the 1080p rung, ffmpeg encodes 720p, 480p, 360p), proxy-rtmp with
 * `RTMP_PASSTHROUGH=false` (today's all-encode ladder), and a bare ffmpeg
 * doing the same all-encode ladder with proxy-rtmp's arguments from the same
 * file at the same pace. Target: passthrough ≤ 0.65 × all-encode.
 */
import { DEFAULT_LADDER, planLadder } from '../src/transcode/ladder.ts';
import { bare, floorArgs, ours, passthroughArgs, type LadderRun } from './ladder.ts';
import type { BenchContext, SectionResult } from './lib/context.ts';
import { input, type InputSpec } from './lib/inputs.ts';
import { fmt } from './lib/util.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The passthrough source: 1080p30 H.264 at 4 Mbps (within the 1080p rung's 5000k), keyframe every 2 s, 24 s. */
export const PASSTHROUGH_SOURCE: InputSpec = { name: 'source-1080p30.flv', width: 1920, height: 1080, fps: 30, seconds: 24, videoKbps: 4000 };

/** Runs figure 7. */
export async function benchPassthrough(ctx: BenchContext): Promise<SectionResult> {
  const source = await input(PASSTHROUGH_SOURCE, ctx.log);
  const mediaSeconds = ctx.quick ? 10 : source.seconds;
  const rungs = planLadder(DEFAULT_LADDER, { width: source.width, height: source.height, fps: source.fps, bitrateKbps: source.videoKbps }, 1080);
  const names = {
    on: 'proxy-rtmp, passthrough on (1080p = the source; 720p, 480p, 360p encoded)',
    off: 'proxy-rtmp, passthrough off (RTMP_PASSTHROUGH=false: all 4 rungs encoded)',
    floor: 'bare ffmpeg, proxy-rtmp\'s all-encode arguments, -re from the file',
    copy: 'bare ffmpeg, -c:v:0 copy for 1080p, the rest chained',
  };
  const runs: LadderRun[] = [];
  const notes: string[] = [];
  const dirs: string[] = [];
  const outDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'proxy-rtmp-passthrough-'));
    dirs.push(d);
    return d;
  };
  try {
    for (let rep = 0; rep < (ctx.quick ? 1 : 2); rep++) {
      const on = await ours(ctx, mediaSeconds, rungs.length, { source, name: names.on, env: { RTMP_PASSTHROUGH: 'true', RTMP_LOG_LEVEL: 'info' } });
      const decision = /passthrough: (on|off)[^"]*/.exec(on.output)?.[0] ?? 'no passthrough line in the log';
      ctx.log(`  decision: ${decision}`);
      if (!decision.startsWith('passthrough: on')) notes.push(`Run ${rep + 1} with passthrough on did not pass through: ${decision}.`);
      runs.push(on);
      runs.push(await ours(ctx, mediaSeconds, rungs.length, { source, name: names.off, env: { RTMP_PASSTHROUGH: 'false' } }));
      const d = outDir();
      runs.push(await bare(ctx, names.floor, floorArgs(ctx, rungs, d, ctx.quick ? 10 : undefined, source), d, mediaSeconds, rungs.length));
    }
    const d = outDir();
    runs.push(await bare(ctx, names.copy, passthroughArgs(floorArgs(ctx, rungs, d, ctx.quick ? 10 : undefined, source), rungs), d, mediaSeconds, rungs.length));
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const per = (name: string, media: (r: LadderRun) => number = (r) => r.mediaSeconds) => {
    const rs = runs.filter((r) => r.name === name);
    return rs.reduce((acc, r) => acc + r.cpuSeconds / media(r), 0) / rs.length;
  };
  // Media seconds every rung got: the fewest segments of any rendition × 2 s (a ffmpeg behind real time is
  // stopped 5 s after the publisher ends, or drops GOPs, and encodes less than the file).
  const encoded = (r: LadderRun) => {
    const counts = (r as LadderRun & { perVariant?: number[] }).perVariant;
    return counts === undefined || counts.length === 0 ? r.mediaSeconds : Math.min(r.mediaSeconds, Math.max(2, Math.min(...counts) * 2));
  };
  const off = per(names.off);
  const offEncoded = per(names.off, encoded);
  // Every rung's segments, less the last (open) one: fewer means ffmpeg fell behind real time and was
  // stopped (or dropped GOPs) before it had encoded everything, and its CPU per media-second reads low.
  const expected = rungs.length * (Math.floor(mediaSeconds / 2) - 1);
  for (const r of runs.filter((x) => x.name === names.on || x.name === names.off)) {
    if ((r.segments ?? 0) < expected) notes.push(`INVALID: "${r.name}" served ${r.segments} video segments of ${expected}: its ffmpeg fell behind real time (a loaded machine); rerun on a quiet one.`);
  }
  const table = [['run', 'runs', 'CPU s (each)', 'CPU s per media-s', 'vs all-encode', 'media s every rung got', 'CPU s per media-s got', 'vs all-encode (got)', 'video segments']];
  for (const name of Object.values(names)) {
    const rs = runs.filter((r) => r.name === name);
    table.push([
      name, String(rs.length), rs.map((r) => fmt(r.cpuSeconds, 2)).join(', '), fmt(per(name), 3), fmt(per(name) / off, 3),
      rs.map((r) => fmt(encoded(r), 0)).join(', '), fmt(per(name, encoded), 3), fmt(per(name, encoded) / offEncoded, 3),
      rs.map((r) => String(r.segments ?? '–')).join(', '),
    ]);
  }
  notes.unshift(
    `Source: ${source.width}x${source.height}p${source.fps} H.264 high ${source.videoKbps} kbps, keyframe every 2 s, + AAC, ${mediaSeconds} s, published with \`ffmpeg -re -c copy\`; ffmpeg ${ctx.ffmpeg.version}. Target: passthrough ≤ 0.65 × all-encode.`,
    'With passthrough the first 2 GOPs (4 s) are held while the source is measured, then ffmpeg starts on them: the same media is encoded, later.',
  );
  return { title: '7. Passthrough (1080p30 4 Mbps source, default ladder)', table, notes };
}
