/** The outcome of reading a Range header against a representation of `size` bytes. */
export type RangeResult =
  /** No usable Range: serve the whole representation with 200. */
  | { kind: 'full' }
  /** One satisfiable range, both ends inclusive: serve 206. */
  | { kind: 'partial'; start: number; end: number }
  /** A valid range that selects nothing: 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/i;

/**
 * Reads a Range header (RFC 9110 14.1.2, 14.2). Only one byte range is served:
 * `a-b`, `a-` and `-n`. Several ranges, another unit, or invalid syntax are
 * ignored and the whole file is served with 200, as 14.2 allows. A range whose
 * first position is at or past the end, a zero-length suffix, or any range on
 * an empty file is unsatisfiable (14.1.1); a last position past the end is
 * clamped to the end.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = SINGLE_RANGE.exec(header.trim().replace(/\s+/g, ''));
  if (m === null) return { kind: 'full' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  if (end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}
