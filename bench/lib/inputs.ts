/**
 * The cached bench inputs, generated once into bench/.cache/ with ffmpeg's
 * testsrc2 and sine sources: H.264 (keyframe every 2 s, no scene cuts) + AAC in
 * FLV, so publishers send them with `-c copy` and the bare-ffmpeg floor reads
 * the very same bytes.
 */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runToEnd } from './util.ts';

export const CACHE_DIR = join(import.meta.dirname, '..', '.cache');

/** One generated input file. */
export interface Input {
  path: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  videoKbps: number;
  bytes: number;
}

export interface InputSpec {
  name: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  videoKbps: number;
}

/** The ladder source: 720p30, 4 Mbps (above the 720p rung's 3000 kbps, so no rung is capped), 24 s. */
export const LADDER_SOURCE: InputSpec = { name: 'source-720p30.flv', width: 1280, height: 720, fps: 30, seconds: 24, videoKbps: 4000 };
/** The ingest file: 360p30 at 1.5 Mbps, 10 s (publishers loop it a fixed number of times). */
export const INGEST_SOURCE: InputSpec = { name: 'ingest-360p30.flv', width: 640, height: 360, fps: 30, seconds: 10, videoKbps: 1500 };

/** Returns the cached file, generating it first when missing. */
export async function input(spec: InputSpec, log: (line: string) => void): Promise<Input> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, spec.name);
  if (!existsSync(path)) {
    log(`generating ${path} (once)`);
    const tmp = `${path}.tmp.flv`;
    const { width, height, fps, seconds, videoKbps } = spec;
    const gop = String(fps * 2);
    await runToEnd('ffmpeg', [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
      '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps * 2}k`,
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
      '-f', 'flv', tmp,
    ]);
    renameSync(tmp, path);
  }
  return { path, ...spec, bytes: statSync(path).size };
}
