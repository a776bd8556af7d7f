import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  carriedPath,
  decodeCarried,
  extractCarried,
  isSea,
  parseCarriedMeta,
  seaCarried,
  sha256Hex,
  sha256HexYielding,
  type CarriedEncoding,
  type CarriedSource,
} from '../../src/ffmpeg/carried.ts';
import { hasCode } from '../../src/errors.ts';

const execFileAsync = promisify(execFile);

/** A tiny stand-in for the static ffmpeg: a script that answers like one. */
const SCRIPT = Buffer.from('#!/bin/sh\necho "ffmpeg version 0.0-carried-test"\n');

function encode(bytes: Uint8Array, encoding: CarriedEncoding): Uint8Array {
  if (encoding === 'gzip') return gzipSync(bytes);
  if (encoding === 'brotli') return brotliCompressSync(bytes);
  return bytes;
}

/** A carried source as the build makes it, counting how often its bytes are read. */
function source(binary: Uint8Array, encoding: CarriedEncoding = 'gzip', overrides: Partial<CarriedSource['meta']> = {}) {
  const stored = encode(binary, encoding);
  let reads = 0;
  const src: CarriedSource = {
    meta: { sha256: sha256Hex(binary), size: binary.byteLength, encoding, ...overrides },
    bytes() {
      reads++;
      return stored;
    },
  };
  return { src, reads: () => reads };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'proxy-rtmp-carried-'));

describe('carried ffmpeg: metadata', () => {
  const sha = 'a'.repeat(64);
  test('a well-formed ffmpeg.json parses, keeping only the known fields', () => {
    assert.deepEqual(parseCarriedMeta(JSON.stringify({ sha256: sha, size: 10, encoding: 'gzip', origin: 'ffmpeg-static@2.7.0', extra: 1 })), {
      sha256: sha,
      size: 10,
      encoding: 'gzip',
      origin: 'ffmpeg-static@2.7.0',
    });
    assert.deepEqual(parseCarriedMeta(JSON.stringify({ sha256: sha, size: 1, encoding: 'identity' })), { sha256: sha, size: 1, encoding: 'identity' });
  });
  const bad: Array<[string, string]> = [
    ['not JSON', '{'],
    ['null', 'null'],
    ['short hash', JSON.stringify({ sha256: 'abc', size: 1, encoding: 'gzip' })],
    ['uppercase hash', JSON.stringify({ sha256: 'A'.repeat(64), size: 1, encoding: 'gzip' })],
    ['zero size', JSON.stringify({ sha256: sha, size: 0, encoding: 'gzip' })],
    ['fractional size', JSON.stringify({ sha256: sha, size: 1.5, encoding: 'gzip' })],
    ['unknown encoding', JSON.stringify({ sha256: sha, size: 1, encoding: 'xz' })],
  ];
  for (const [name, text] of bad) {
    test(`refused: ${name}`, () => {
      assert.throws(() => parseCarriedMeta(text), (err: unknown) => hasCode(err, 'ERR_FFMPEG_EXTRACT'));
    });
  }
  test('the cache path is keyed by the first 16 hex digits of the hash', () => {
    assert.equal(carriedPath('/var/cache/proxy-rtmp', `0123456789abcdef${'f'.repeat(48)}`), '/var/cache/proxy-rtmp/ffmpeg-0123456789abcdef/ffmpeg');
  });
  test('outside a single executable there is no carried ffmpeg', () => {
    assert.equal(isSea(), false);
    assert.equal(seaCarried(), undefined);
  });
});

describe('carried ffmpeg: extraction into the cache', () => {
  for (const encoding of ['identity', 'gzip', 'brotli'] as const) {
    test(`${encoding}: unpacked once, executable, runs; a later start reuses it untouched`, async () => {
      const cache = tempDir();
      const { src, reads } = source(SCRIPT, encoding);
      const first = await extractCarried(src, cache);
      assert.equal(first.action, 'extracted');
      assert.equal(first.path, carriedPath(cache, src.meta.sha256));
      assert.deepEqual(readFileSync(first.path), SCRIPT);
      assert.equal(statSync(first.path).mode & 0o777, 0o755);
      const { stdout } = await execFileAsync(first.path, ['-version']);
      assert.equal(stdout, 'ffmpeg version 0.0-carried-test\n');
      const mtime = statSync(first.path).mtimeMs;

      const second = await extractCarried(src, cache);
      assert.equal(second.action, 'reused');
      assert.equal(second.path, first.path);
      assert.equal(statSync(second.path).mtimeMs, mtime);
      assert.equal(reads(), 1, 'the asset is not read again when the cached copy verifies');
      assert.deepEqual(readdirSync(join(first.path, '..')), ['ffmpeg'], 'no temporary file left');
    });
  }

  test('a cached copy that does not verify (same size, other bytes; not executable) is replaced', async () => {
    const cache = tempDir();
    const { src } = source(SCRIPT);
    const { path } = await extractCarried(src, cache);
    const tampered = Buffer.from(SCRIPT);
    tampered[tampered.length - 2] = 0x58;
    writeFileSync(path, tampered);
    const again = await extractCarried(src, cache);
    assert.equal(again.action, 'extracted');
    assert.deepEqual(readFileSync(path), SCRIPT);

    chmodSync(path, 0o644);
    assert.equal((await extractCarried(src, cache)).action, 'extracted');
    assert.equal(statSync(path).mode & 0o777, 0o755);
  });

  test('an asset that does not match its hash is refused and nothing is written', async () => {
    const cache = tempDir();
    const { src } = source(SCRIPT, 'gzip', { sha256: 'b'.repeat(64) });
    await assert.rejects(extractCarried(src, cache), (err: unknown) => hasCode(err, 'ERR_FFMPEG_EXTRACT') && /corrupt/.test((err as Error).message));
    assert.deepEqual(readdirSync(cache), []);
    const short = source(SCRIPT, 'identity', { size: SCRIPT.length + 1 }).src;
    await assert.rejects(extractCarried(short, cache), (err: unknown) => hasCode(err, 'ERR_FFMPEG_EXTRACT'));
  });

  test('a cache directory that cannot be created gives ERR_FFMPEG_EXTRACT naming it', async () => {
    const parent = tempDir();
    const blocked = join(parent, 'file');
    writeFileSync(blocked, ''); // a file where a directory should be: ENOTDIR, even for root
    await assert.rejects(
      extractCarried(source(SCRIPT).src, join(blocked, 'cache')),
      (err: unknown) => hasCode(err, 'ERR_FFMPEG_EXTRACT') && (err as Error).message.includes(blocked),
    );
  });

  test('concurrent starts on one cache directory all get an intact binary', async () => {
    const cache = tempDir();
    const binary = Buffer.concat([SCRIPT, Buffer.alloc(2 << 20, 0x23)]); // 2 MB, so writes overlap
    const results = await Promise.all(Array.from({ length: 6 }, () => extractCarried(source(binary).src, cache)));
    const path = results[0]!.path;
    assert.ok(results.every((r) => r.path === path));
    assert.equal(sha256Hex(readFileSync(path)), sha256Hex(binary));
    assert.deepEqual(readdirSync(join(path, '..')), ['ffmpeg']);
  });

  test('property: whatever the bytes and encoding, decoding the stored asset gives them back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.constantFrom<CarriedEncoding>('identity', 'gzip', 'brotli'), async (bytes, encoding) => {
        assert.deepEqual(Buffer.from(await decodeCarried(encode(bytes, encoding), encoding)), Buffer.from(bytes));
      }),
      { numRuns: 60 },
    );
  });

  test('the hash taken a slice at a time (the listeners stay responsive) is the hash of the whole', async () => {
    const bytes = new Uint8Array(9 << 20).map((_, i) => (i * 7) & 0xff);
    assert.equal(await sha256HexYielding(bytes), sha256Hex(bytes));
    assert.equal(await sha256HexYielding(new Uint8Array(0)), sha256Hex(new Uint8Array(0)));
  });
});
