import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { installedFfmpegStatic } from '../../src/ffmpeg/locate.ts';
import { closedWithin } from './process.ts';

/**
 * The ffmpeg that publishes in tests: ffmpeg-static's (a static 4.2.1 that
 * `npm install` brings), so that publishing needs nothing from apt.
 */
export const PUBLISHER_FFMPEG: string = (() => {
  const path = installedFfmpegStatic();
  if (path === undefined || !existsSync(path)) throw new Error(`ffmpeg-static's binary is missing (${path}): run npm install`);
  return path;
})();

/** A running publisher process and what it printed. */
export interface Publisher {
  child: ChildProcess;
  stderr: () => string;
  /** ffmpeg's `-progress` key=value lines, the latest value of each. */
  progress: Map<string, string>;
  /**
   * Its exit code once it has closed (null: killed by a signal). Bounded: a
   * publisher still running well past its expected end is killed, and this
   * rejects with an error naming it and its last output.
   */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

function track(child: ChildProcess, what: string, boundMs: number): Publisher {
  let err = '';
  const progress = new Map<string, string>();
  child.on('error', (e) => {
    err += `could not run ${what}: ${e.message}\n`;
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  let pending = '';
  child.stdout?.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq > 0) progress.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
  });
  const exited = closedWithin(child, boundMs, what, () => err).then(([code]) => code);
  exited.catch(() => {}); // awaited or not, never an unhandled rejection
  return { child, stderr: () => err, progress, exited, kill: (s = 'SIGKILL') => void child.kill(s) };
}

/** Options of a synthetic ffmpeg publish. */
export interface PublishOptions {
  width?: number;
  height?: number;
  seconds?: number;
  fps?: number;
  videoKbps?: number;
  audio?: boolean;
  /** Publish video (default true); false: audio only. */
  video?: boolean;
  /** The audio encoder (default `aac`), e.g. `libmp3lame`. */
  audioCodec?: string;
  extra?: string[];
  /** How long past its `seconds` it may run before it is killed and `exited` rejects (default 30 s). */
  graceMs?: number;
}

/** ffmpeg publishes a synthetic H.264 + AAC stream (testsrc2 + sine) in real time; either track may be left out. */
export function ffmpegPublish(url: string, o: PublishOptions = {}): Publisher {
  const { width = 320, height = 240, seconds = 3, fps = 30, videoKbps = 300, audio = true, video = true, audioCodec = 'aac' } = o;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', '-re',
    ...(video ? ['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`] : []),
    ...(audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'] : []),
    '-t', String(seconds),
    ...(video
      ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(fps), '-pix_fmt', 'yuv420p',
        '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps}k`]
      : []),
    ...(audio ? ['-c:a', audioCodec, '-b:a', '64k'] : []),
    ...(o.extra ?? []),
    '-f', 'flv', url,
  ];
  const child = spawn(PUBLISHER_FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return track(child, `the ffmpeg publisher to ${url}`, seconds * 1000 + (o.graceMs ?? 30_000));
}

/** gst-launch-1.0 with a pipeline string (split on spaces, quotes not needed), bounded to `boundMs`. */
export function gstLaunch(pipeline: string, boundMs = 60_000): Publisher {
  const child = spawn('gst-launch-1.0', ['-q', ...pipeline.split(/\s+/).filter(Boolean)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return track(child, `gst-launch-1.0 (${pipeline.split(' ! ').at(-1)})`, boundMs);
}
