import type { Rung } from './ladder.ts';

/**
 * The file the completed master playlist is published as; HTTP serves it for
 * `master.m3u8` (src/http/request-path.ts). Never the name ffmpeg writes: ffmpeg
 * before 4.3 can only write `master.m3u8`, which therefore is never served as is.
 * The leading dot keeps it out of reach under its own name.
 */
export const PUBLISHED_MASTER_FILE = '.master.m3u8';

/** The name ffmpeg writes its master playlist under (≥ 4.3); we publish PUBLISHED_MASTER_FILE from it. */
export const FFMPEG_MASTER_NAME = 'ffmpeg-master.m3u8';

function formatFrameRate(fps: number): string {
  return fps.toFixed(3);
}

/**
 * Completes ffmpeg's master playlist (RFC 8216 4.3.4.2): each EXT-X-STREAM-INF,
 * in rung order, gains AVERAGE-BANDWIDTH (the rung's target plus the shared
 * audio, bits/s) and FRAME-RATE, which ffmpeg's dash muxer leaves out. Lines
 * already carrying an attribute keep it; everything else is passed through.
 */
export function augmentMasterPlaylist(text: string, rungs: readonly Rung[], audioKbps: number): string {
  let index = 0;
  return text
    .split('\n')
    .map((line) => {
      if (!line.startsWith('#EXT-X-STREAM-INF:')) return line;
      const rung = rungs[index++];
      if (rung === undefined) return line;
      let out = line;
      if (!/[:,]AVERAGE-BANDWIDTH=/.test(out)) out += `,AVERAGE-BANDWIDTH=${(rung.bitrateKbps + audioKbps) * 1000}`;
      if (!/[:,]FRAME-RATE=/.test(out)) out += `,FRAME-RATE=${formatFrameRate(rung.fps)}`;
      return out;
    })
    .join('\n');
}
