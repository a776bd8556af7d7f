import { stdSerializers } from 'pino';
import type { Logger } from '../log.ts';
import { keyId } from './keys.ts';

/** Fields whose text may hold an output path or a `/streams/<key>/` URL path. */
const TEXT_FIELDS = ['dir', 'url', 'ffmpeg', 'reason'] as const;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces stream keys inside free text with their key id: the directory
 * under the output root (`<root>/<key>`, which ffmpeg and the transcoder
 * name) and the HTTP path `/streams/<key>/`.
 */
export function keyScrubber(outputRoot: string): (text: string) => string {
  const root = outputRoot.replace(/\/+$/, '');
  // One pass, so a key id is never scrubbed again when the root itself ends in /streams.
  const pattern = new RegExp(`(${escapeRegExp(root)}|/streams)/([A-Za-z0-9_.%-]+)`, 'g');
  return (text) => text.replace(pattern, (_, prefix: string, key: string) => `${prefix}/${keyId(key)}`);
}

/**
 * A child of `log` for everything that handles streams while publishing is
 * authenticated (auth.enabled), when a stream key is a credential: a `key`
 * field (in a line or a child's bindings) becomes its key id
 * (`sha256:` + 12 hex digits, see keyId), and keys inside output paths, HTTP
 * paths, ffmpeg's lines, reasons and error messages are replaced the same way.
 */
export function keyRedactingLogger(log: Logger, outputRoot: string): Logger {
  const scrub = keyScrubber(outputRoot);
  const text = (value: unknown): unknown => (typeof value === 'string' ? scrub(value) : value);
  const serializers: Record<string, (value: unknown) => unknown> = {
    key: (value) => (typeof value === 'string' ? keyId(value) : value),
    err: (value) => {
      if (!(value instanceof Error)) return value;
      const out = stdSerializers.err(value) as unknown as Record<string, unknown>;
      for (const field of ['message', 'stack', 'path', 'dest']) out[field] = text(out[field]);
      return out;
    },
  };
  for (const field of TEXT_FIELDS) serializers[field] = text;
  return log.child({}, { serializers });
}
