import { execFile } from 'node:child_process';

/** What `ffmpeg -version` said. */
export interface FfmpegProbe {
  ok: boolean;
  binary: string;
  /** First line of `-version`, e.g. "ffmpeg version 5.1.6-0+deb12u1 …". */
  version?: string;
  error?: string;
}

/** Runs `<binary> -version` (5 s at most) to learn whether transcoding can work at all. */
export function probeFfmpeg(binary: string, timeoutMs = 5000): Promise<FfmpegProbe> {
  return new Promise((resolve) => {
    execFile(binary, ['-hide_banner', '-version'], { timeout: timeoutMs }, (err, stdout) => {
      if (err) {
        resolve({ ok: false, binary, error: err.message });
        return;
      }
      const version = stdout.split('\n')[0]?.trim() ?? '';
      resolve(version.startsWith('ffmpeg version') ? { ok: true, binary, version } : { ok: false, binary, error: `unexpected -version output: ${version.slice(0, 80)}` });
    });
  });
}
