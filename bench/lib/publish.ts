/** ffmpeg publishers that send a cached file with `-c copy` (no encoding on the publisher side). */
import { spawn, type ChildProcess } from 'node:child_process';

/** One running publisher. */
export interface Publisher {
  child: ChildProcess;
  /** Resolves at 'close' with the exit code and the FLV bytes ffmpeg wrote (its last `total_size`). */
  done: Promise<{ code: number | null; bytes: number; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
  /** FLV bytes written so far, as ffmpeg last reported them (`-progress`, every 0.5 s). */
  bytesNow(): number;
  /** True once the child closed. */
  exited(): boolean;
}

/** Publish options. */
export interface PublishOptions {
  /** Read at the native frame rate (`-re`); else as fast as the server takes it. */
  realtime: boolean;
  /** Extra passes over the file (`-stream_loop`); -1 loops until killed. */
  loops?: number;
  /** Stop after this many seconds of input (`-t`). */
  seconds?: number;
}

/** `ffmpeg [-re] [-stream_loop n] -i file -c copy -f flv url`. */
export function publish(file: string, url: string, o: PublishOptions): Publisher {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1'];
  if (o.realtime) args.push('-re');
  if (o.loops !== undefined && o.loops !== 0) args.push('-stream_loop', String(o.loops));
  if (o.seconds !== undefined) args.push('-t', String(o.seconds));
  args.push('-i', file, '-c', 'copy', '-f', 'flv', url);
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString('latin1');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('total_size=')) bytes = Number(line.slice(11)) || bytes;
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 8000) stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; bytes: number; stderr: string }>((resolve) => {
    child.once('close', (code) => resolve({ code, bytes, stderr }));
    child.once('error', (err) => resolve({ code: null, bytes, stderr: `${stderr}\n${err.message}` }));
  });
  let exited = false;
  void done.then(() => (exited = true));
  return { child, done, kill: (signal = 'SIGKILL') => void child.kill(signal), bytesNow: () => bytes, exited: () => exited };
}
