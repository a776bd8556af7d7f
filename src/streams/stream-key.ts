import { StreamKeyError } from '../errors.ts';
import { MAX_QUERY_LENGTH } from '../rtmp/connect-params.ts';

export { MAX_QUERY_LENGTH, normaliseApp } from '../rtmp/connect-params.ts';

/** Longest stream key we accept, in bytes (keys become directory names). */
export const MAX_STREAM_KEY_LENGTH = 128;
const KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A validated stream key and the query parameters that came with it. */
export interface StreamName {
  key: string;
  /** Query parameters from `key?a=b` (kept for authentication). */
  query: Readonly<Record<string, string>>;
}

/**
 * Splits and validates a publish name (`key` or `key?token=…`). Keys use
 * letters, digits, `_`, `-` and `.`, must not start with `.` (no `..`, no hidden
 * directories) and are at most 128 bytes; anything else (slashes, `%`, NUL,
 * spaces) is refused, never decoded or rewritten.
 */
export function parseStreamName(name: unknown): StreamName {
  if (typeof name !== 'string') {
    throw new StreamKeyError(`stream name must be a string, got ${name === null ? 'null' : typeof name}`);
  }
  const q = name.indexOf('?');
  const key = q === -1 ? name : name.slice(0, q);
  const rawQuery = q === -1 ? '' : name.slice(q + 1);
  if (key.length === 0) throw new StreamKeyError('stream key is empty');
  if (key.length > MAX_STREAM_KEY_LENGTH) {
    throw new StreamKeyError(`stream key is longer than ${MAX_STREAM_KEY_LENGTH} characters`);
  }
  if (!KEY_PATTERN.test(key)) {
    throw new StreamKeyError(
      'stream key may hold only letters, digits, "_", "-" and "." and must not start with "." or "-"',
    );
  }
  if (rawQuery.length > MAX_QUERY_LENGTH) {
    throw new StreamKeyError(`query string is longer than ${MAX_QUERY_LENGTH} characters`);
  }
  const query: Record<string, string> = Object.create(null);
  for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v;
  return { key, query: Object.freeze(query) };
}
