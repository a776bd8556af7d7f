import type { AmfValue } from './amf0.ts';

/** Longest query string kept after `?` (in a publish name, a connect `app` or `tcUrl`). */
export const MAX_QUERY_LENGTH = 2048;

/** The application part of connect's `app` (query and trailing slashes dropped). */
export function normaliseApp(app: unknown): string | undefined {
  if (typeof app !== 'string') return undefined;
  const q = app.indexOf('?');
  return (q === -1 ? app : app.slice(0, q)).replace(/\/+$/, '');
}

/** The query parameters after `?` in a connect `app` or `tcUrl` (none when absent, too long or not a string). */
export function queryOf(value: AmfValue | undefined): Record<string, string> {
  const query: Record<string, string> = Object.create(null);
  if (typeof value !== 'string') return query;
  const q = value.indexOf('?');
  if (q === -1 || value.length - q - 1 > MAX_QUERY_LENGTH) return query;
  for (const [k, v] of new URLSearchParams(value.slice(q + 1))) query[k] = v;
  return query;
}

/** Later sources override earlier ones, parameter by parameter. */
export function mergeQueries(...sources: Readonly<Record<string, string>>[]): Readonly<Record<string, string>> {
  const merged: Record<string, string> = Object.create(null);
  for (const source of sources) for (const [k, v] of Object.entries(source)) merged[k] = v;
  return Object.freeze(merged);
}
