import type { IncomingHttpHeaders } from 'node:http';

/** What conditional requests are evaluated against. */
export interface Validators {
  /** Entity tag, strong or weak (`"720p-1a2b-17.m4s-4000"`, `W/"…"`). */
  etag: string;
  /** Modification time in whole seconds since the epoch (HTTP-date precision). */
  mtimeS: number;
}

/** The opaque part of an entity tag, without `W/` (weak comparison, RFC 9110 8.8.3.2). */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * True when a GET/HEAD should be answered 304 (RFC 9110 13.2.2 steps 3–4):
 * If-None-Match with weak comparison, or `*`; only when If-None-Match is
 * absent, If-Modified-Since against the mtime.
 */
export function isNotModified(headers: IncomingHttpHeaders, v: Validators): boolean {
  const inm = headers['if-none-match'];
  if (inm !== undefined) {
    const mine = opaque(v.etag);
    return inm.split(',').some((t) => {
      const tag = t.trim();
      return tag === '*' || opaque(tag) === mine;
    });
  }
  const ims = headers['if-modified-since'];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    return !Number.isNaN(since) && v.mtimeS * 1000 <= since;
  }
  return false;
}

/**
 * True when a Range header may be honoured given If-Range (RFC 9110 13.1.5).
 * Our ETags are weak and If-Range needs a strong match, so only the date form
 * can pass, and only when it equals Last-Modified exactly.
 */
export function ifRangeAllows(headers: IncomingHttpHeaders, v: Validators): boolean {
  const raw = headers['if-range'];
  if (raw === undefined) return true;
  const ifRange = (Array.isArray(raw) ? raw.join(',') : raw).trim();
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return false;
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && date === v.mtimeS * 1000;
}
