import { extname } from 'node:path';

const MEDIA_TYPES: ReadonlyMap<string, string> = new Map([
  ['.m3u8', 'application/vnd.apple.mpegurl'], // RFC 8216 4
  ['.mpd', 'application/dash+xml'], // ISO 23009-1 Annex C
  ['.m4s', 'video/iso.segment'], // IANA registration for ISO BMFF segments
  ['.mp4', 'video/mp4'],
  ['.m4v', 'video/mp4'],
  ['.m4a', 'audio/mp4'],
  ['.ts', 'video/mp2t'],
  ['.vtt', 'text/vtt'],
]);

/** The Content-Type served for `file`, or undefined for an extension we do not serve (→ 404). */
export function mediaTypeOf(file: string): string | undefined {
  return MEDIA_TYPES.get(extname(file));
}

/** Shared-cache lifetime of a media segment, in seconds (see cacheControlFor). */
export const SEGMENT_MAX_AGE_S = 30;

/**
 * Cache-Control per kind of file (RFC 9111 5.2.2):
 *
 * - Playlists and manifests (`.m3u8`, `.mpd`): `no-cache`. They change every
 *   segment; caches must revalidate, which is cheap thanks to the ETag (304).
 * - Init segments (`init*`): `no-cache` as well. They are tiny, fetched once per
 *   player, and change across a re-publish of the same key when the encoder
 *   settings change; a stale init segment breaks decoding of everything after it.
 * - Media segments: `public, max-age=30`. Names repeat when a key is published
 *   again (the transcoder restarts numbering), so `immutable` or a long max-age
 *   would let a CDN or browser serve the previous run's `chunk-1.m4s` to the new
 *   run; 30 s still collapses the fan-out of many players fetching the same
 *   segment within its few seconds at the live edge, and a CDN revalidates with
 *   the ETag afterwards. If segment names ever become unique per run, switch
 *   media segments to `public, max-age=31536000, immutable`.
 */
export function cacheControlFor(file: string): string {
  const ext = extname(file);
  if (ext === '.m3u8' || ext === '.mpd' || file.startsWith('init')) return 'no-cache';
  return `public, max-age=${SEGMENT_MAX_AGE_S}`;
}
