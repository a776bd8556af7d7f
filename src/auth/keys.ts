import { createHash, timingSafeEqual } from 'node:crypto';

/** The prefix of a configured key given as its SHA-256 (`sha256:<64 hex>`). */
export const HASH_PREFIX = 'sha256:';
/** Hex digits of the key id shown in logs (48 bits: enough to tell keys apart, useless to guess one). */
const KEY_ID_HEX = 12;

/** SHA-256 of a stream key, as 32 bytes. */
export function keyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * What logs show instead of a stream key when publishing is authenticated:
 * `sha256:` and the first 12 hex digits of the key's SHA-256, so a line can be
 * matched against a `sha256:` entry of auth.keys without revealing the key.
 */
export function keyId(key: string): string {
  return HASH_PREFIX + keyDigest(key).toString('hex').slice(0, KEY_ID_HEX);
}

/**
 * The `auth.keys` list: each entry is a stream key or `sha256:<hex>` of one.
 * Both are kept only as SHA-256 digests, and a candidate is compared with every
 * digest in constant time (no early exit, `timingSafeEqual` on 32-byte
 * buffers), so neither the listed keys nor their number leak through timing
 * beyond the list's length.
 */
export class KeyList {
  readonly #digests: readonly Buffer[];

  constructor(entries: readonly string[]) {
    this.#digests = entries.map((entry) =>
      entry.startsWith(HASH_PREFIX) ? Buffer.from(entry.slice(HASH_PREFIX.length), 'hex') : keyDigest(entry),
    );
  }

  /** Number of configured entries. */
  get size(): number {
    return this.#digests.length;
  }

  /** True when `key`, or its SHA-256, is listed. */
  has(key: string): boolean {
    const candidate = keyDigest(key);
    let found = false;
    for (const digest of this.#digests) {
      // Non-short-circuit OR: every entry is compared whatever the outcome.
      found = timingSafeEqual(candidate, digest) || found;
    }
    return found;
  }
}

