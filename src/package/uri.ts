/**
 * URIs as the playlist and manifest writers put them in text: a query
 * appended (signed playback), and nothing that could end a quoted string, a
 * line or an XML attribute.
 */

/**
 * Characters that RFC 3986 (2, appendix C) never allows raw in a URI: controls,
 * space, non-ASCII, and `"<>\^`{|}`. Percent-encoded, they can no longer end an
 * HLS quoted-string or line (RFC 8216 4.2) nor break XML.
 */
const UNSAFE = /[^\x21-\x7e]|["<>\\^`{|}]/gu;

/** `uri` with the characters no URI may carry raw percent-encoded (UTF-8); `%` escapes already there are kept. */
export function safeUri(uri: string): string {
  return uri.replace(UNSAFE, (ch) => {
    const code = ch.codePointAt(0) ?? 0;
    // A lone surrogate has no UTF-8 form: it becomes U+FFFD.
    return encodeURIComponent(code >= 0xd800 && code <= 0xdfff ? '\uFFFD' : ch);
  });
}

/**
 * `uri` with `query` (`token=…`, no leading `?`) added to its query, before
 * any fragment; the result made safe by `safeUri`. An empty or absent query
 * leaves the URI as it is.
 */
export function withQuery(uri: string, query: string | undefined): string {
  if (query === undefined || query === '') return safeUri(uri);
  const q = query.startsWith('?') || query.startsWith('&') ? query.slice(1) : query;
  const hash = uri.indexOf('#');
  const path = hash === -1 ? uri : uri.slice(0, hash);
  const fragment = hash === -1 ? '' : uri.slice(hash);
  const sep = !path.includes('?') ? '?' : path.endsWith('?') || path.endsWith('&') ? '' : '&';
  return safeUri(`${path}${sep}${q}${fragment}`);
}
