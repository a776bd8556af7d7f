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

/** The Content-Type of `file`, or undefined for an extension we do not serve (→ 404 before the store is asked). */
export function mediaTypeOf(file: string): string | undefined {
  return MEDIA_TYPES.get(extname(file));
}
