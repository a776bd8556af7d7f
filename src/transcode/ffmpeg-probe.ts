import { probeVersion } from '../ffmpeg/locate.ts';

/** What `ffmpeg -version` said. */
export interface FfmpegProbe {
  ok: boolean;
  binary: string;
  /** First line of `-version`, e.g. "ffmpeg version 5.1.6-0+deb12u1 …". */
  version?: string;
  error?: string;
}

/** Runs `<binary> -version` (5 s at most) to learn whether transcoding can work at all (see ffmpeg/locate.ts for which binary). */
export async function probeFfmpeg(binary: string, timeoutMs = 5000): Promise<FfmpegProbe> {
  const probe = await probeVersion(binary, timeoutMs);
  return probe.ok ? { ok: true, binary, version: probe.version! } : { ok: false, binary, error: probe.error ?? 'not usable' };
}
