import { createHash } from 'node:crypto';
import { extname } from 'node:path';

/**
 * Carrying a playback token (`exp=…&sig=…`) into the URIs of the text files a
 * player reads, so that a player given one signed master playlist or manifest
 * URL keeps sending the token with every request that follows. Only relative
 * references are rewritten: a token is never handed to another host.
 */

/** True for a relative reference (RFC 3986 4.2) that is not network-path (`//host`). */
function isRelative(uri: string): boolean {
  return uri !== '' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) && !uri.startsWith('//');
}

/** `uri` with `query` appended to its query (before any fragment); `amp` separates parameters (`&amp;` inside XML). */
export function withQuery(uri: string, query: string, amp = '&'): string {
  if (!isRelative(uri)) return uri;
  const hash = uri.indexOf('#');
  const path = hash === -1 ? uri : uri.slice(0, hash);
  const fragment = hash === -1 ? '' : uri.slice(hash);
  const sep = path.includes('?') ? (path.endsWith('?') || path.endsWith(amp) ? '' : amp) : '?';
  return `${path}${sep}${query}${fragment}`;
}

/**
 * An HLS playlist (RFC 8216) with `token` added to every URI: URI lines
 * (variant and media playlists, segments) and every `URI="…"` attribute of a
 * tag (EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-PART, …).
 * Line endings and everything else are kept.
 */
export function rewriteHlsPlaylist(text: string, token: string): string {
  return text.replace(/^([^\r\n]*)/gm, (line) => {
    if (line.startsWith('#')) {
      return line.replace(/([:,]URI=")([^"]*)(")/g, (_, pre: string, uri: string, post: string) => pre + withQuery(uri, token) + post);
    }
    const trimmed = line.trim();
    if (trimmed === '') return line;
    return line.replace(trimmed, () => withQuery(trimmed, token));
  });
}

/** `&`, `<`, `"` and `'` escaped for XML text and attribute values. */
function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * A DASH manifest (ISO 23009-1) with `token` added to every URL it holds:
 * the `media`, `initialization` and `index` attributes of SegmentTemplate and
 * SegmentURL, `sourceURL` of Initialization/RepresentationIndex, and the text
 * of BaseURL and Location. The query is XML-escaped (`&amp;`).
 */
export function rewriteDashManifest(text: string, token: string): string {
  const escaped = xmlEscape(token);
  const append = (uri: string): string => (isRelative(uri.trim()) ? withQuery(uri.trim(), escaped, '&amp;') : uri);
  return text
    .replace(
      /(\s(?:media|initialization|index|sourceURL)\s*=\s*)(["'])([^"']*)\2/g,
      (_, pre: string, quote: string, uri: string) => `${pre}${quote}${append(uri)}${quote}`,
    )
    .replace(
      /(<(BaseURL|Location)(?:\s[^>]*)?>)([^<]*)(<\/\2>)/g,
      (_, open: string, _name: string, uri: string, close: string) => `${open}${append(uri)}${close}`,
    );
}

/** The rewriter for a served file, or undefined for files served as they are (segments). */
export function tokenRewriterFor(file: string): ((text: string, token: string) => string) | undefined {
  const ext = extname(file);
  if (ext === '.m3u8') return rewriteHlsPlaylist;
  if (ext === '.mpd') return rewriteDashManifest;
  return undefined;
}

/** The weak ETag of a rewritten body: the file's ETag plus a digest of the token, so two tokens never share one. */
export function tokenEtag(fileEtag: string, token: string): string {
  const tag = createHash('sha256').update(token).digest('hex').slice(0, 12);
  return fileEtag.replace(/"$/, `-${tag}"`);
}
