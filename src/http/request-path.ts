/** Stream keys and file names served under `/streams/` (same rule as ingest keys, ≤ 128 bytes). */
export const SEGMENT_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A request for one file of one stream's output directory. */
export interface StreamFileRequest {
  key: string;
  file: string;
}

/** The path part of a request-target (origin-form only; the query is dropped). */
export function parsePathname(rawUrl: string): string | undefined {
  if (!rawUrl.startsWith('/')) return undefined;
  const q = rawUrl.indexOf('?');
  return q === -1 ? rawUrl : rawUrl.slice(0, q);
}

/**
 * Maps a raw request path to a stream file, or undefined (→ 404):
 * `/streams/<key>/<file>` and `/streams/<key>/dash/<file>` both name
 * `${root}/<key>/<file>` (one set of CMAF segments serves HLS and DASH).
 *
 * The path is split on `/` before anything is decoded, then each segment is
 * percent-decoded exactly once (RFC 3986 2.4); a decoded segment holding `/`,
 * `\`, `..`, NUL, or failing SEGMENT_NAME_PATTERN is refused, so `%2e%2e`,
 * `%2f`, `%5c` and double encoding (`%252e` decodes to `%2e`) never reach the
 * file system. Empty segments (`//`, trailing `/`) are refused too.
 */
export function parseStreamPath(pathname: string): StreamFileRequest | undefined {
  const parts = pathname.split('/');
  if (parts[0] !== '' || parts[1] !== 'streams') return undefined;
  let rawKey: string | undefined;
  let rawFile: string | undefined;
  if (parts.length === 4) {
    [, , rawKey, rawFile] = parts;
  } else if (parts.length === 5 && parts[3] === 'dash') {
    [, , rawKey, , rawFile] = parts;
  } else {
    return undefined;
  }
  const key = decodeSegment(rawKey);
  const file = decodeSegment(rawFile);
  if (key === undefined || file === undefined) return undefined;
  return { key, file };
}

function decodeSegment(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > 3 * 128) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (/[/\\\0]/.test(decoded) || decoded.includes('..')) return undefined;
  return SEGMENT_NAME_PATTERN.test(decoded) ? decoded : undefined;
}
