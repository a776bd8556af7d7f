import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A running publisher process and what it printed. */
export interface Publisher {
  child: ChildProcess;
  stderr: () => string;
  /** ffmpeg's `-progress` key=value lines, the latest value of each. */
  progress: Map<string, string>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

function track(child: ChildProcess): Publisher {
  let err = '';
  const progress = new Map<string, string>();
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
  // 'close', not 'exit': by then stdout and stderr have been read to the end.
  const exited = once(child, 'close').then(([code]) => code as number | null);
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
  extra?: string[];
}

/** ffmpeg publishes a synthetic H.264 + AAC stream (testsrc2 + sine) in real time. */
export function ffmpegPublish(url: string, o: PublishOptions = {}): Publisher {
  const { width = 320, height = 240, seconds = 3, fps = 30, videoKbps = 300, audio = true } = o;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    ...(audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'] : []),
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(fps), '-pix_fmt', 'yuv420p',
    '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps}k`,
    ...(audio ? ['-c:a', 'aac', '-b:a', '64k'] : []),
    ...(o.extra ?? []),
    '-f', 'flv', url,
  ];
  return track(spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** gst-launch-1.0 with a pipeline string (split on spaces, quotes not needed). */
export function gstLaunch(pipeline: string): Publisher {
  return track(spawn('gst-launch-1.0', ['-q', ...pipeline.split(/\s+/).filter(Boolean)], { stdio: ['ignore', 'pipe', 'pipe'] }));
}
