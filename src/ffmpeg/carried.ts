/**
 * The static ffmpeg the single executable carries as a SEA asset, and its
 * unpacking into a cache directory keyed by its hash.
 *
 * The build (build/sea.ts) stores two assets: `ffmpeg` (the binary, possibly
 * compressed) and `ffmpeg.json` ({@link CarriedMeta}: the binary's SHA-256,
 * size and how the asset is encoded). At start-up the binary is written to
 * `<cacheDir>/ffmpeg-<first 16 hex of its sha256>/ffmpeg` through a temporary
 * file in the same directory (fsync, verify, chmod 0755, atomic rename), so
 * concurrent starts never see a half-written binary; later starts verify the
 * file already there (size, mode and SHA-256) and reuse it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { FfmpegExtractError } from '../errors.ts';

/** SEA asset key of the binary. */
export const CARRIED_ASSET = 'ffmpeg';
/** SEA asset key of its {@link CarriedMeta} (JSON). */
export const CARRIED_META_ASSET = 'ffmpeg.json';

/** How the `ffmpeg` asset's bytes are stored. */
export type CarriedEncoding = 'identity' | 'gzip' | 'brotli';

/** What the build recorded about the carried binary. */
export interface CarriedMeta {
  /** SHA-256 of the unpacked binary, lowercase hex. */
  readonly sha256: string;
  /** Size of the unpacked binary in bytes. */
  readonly size: number;
  readonly encoding: CarriedEncoding;
  /** Where the build took it from (for the log), e.g. "ffmpeg-static@2.7.0". */
  readonly origin?: string;
}

/** A carried binary: its metadata and a way to read the stored bytes. */
export interface CarriedSource {
  readonly meta: CarriedMeta;
  /** The asset's bytes as stored (compressed when `meta.encoding` says so). */
  bytes(): Uint8Array;
}

/** What {@link extractCarried} did. */
export interface ExtractResult {
  /** The executable binary in the cache. */
  readonly path: string;
  /** `extracted`: written now; `reused`: a verified copy was already there. */
  readonly action: 'extracted' | 'reused';
  /** Time spent, including verification. */
  readonly ms: number;
}

type SeaModule = typeof import('node:sea');

/** `node:sea` when this Node has it (20.12+), else undefined. Anchored on the executable: only builtins are loaded. */
function seaModule(): SeaModule | undefined {
  try {
    return createRequire(process.execPath)('node:sea') as SeaModule;
  } catch {
    return undefined;
  }
}

/** True when this process is a single executable application. */
export function isSea(): boolean {
  return seaModule()?.isSea() === true;
}

/** Checks a parsed `ffmpeg.json`; throws FfmpegExtractError when it is not one. */
export function parseCarriedMeta(text: string): CarriedMeta {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FfmpegExtractError('carried ffmpeg metadata is not JSON', { cause: err });
  }
  const m = value as Partial<CarriedMeta> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(m.sha256) ||
    typeof m.size !== 'number' ||
    !Number.isSafeInteger(m.size) ||
    m.size <= 0 ||
    (m.encoding !== 'identity' && m.encoding !== 'gzip' && m.encoding !== 'brotli')
  ) {
    throw new FfmpegExtractError(`carried ffmpeg metadata is malformed: ${text.slice(0, 200)}`);
  }
  return { sha256: m.sha256, size: m.size, encoding: m.encoding, ...(typeof m.origin === 'string' ? { origin: m.origin } : {}) };
}

/**
 * The ffmpeg carried by this single executable, or undefined when this is not
 * a SEA (tsx, node, the plain bundle) or the SEA was built without one.
 */
export function seaCarried(): CarriedSource | undefined {
  const sea = seaModule();
  if (sea === undefined || !sea.isSea()) return undefined;
  let meta: CarriedMeta;
  try {
    meta = parseCarriedMeta(sea.getAsset(CARRIED_META_ASSET, 'utf8'));
  } catch (err) {
    if (err instanceof FfmpegExtractError) throw err;
    return undefined; // no such asset: built without ffmpeg
  }
  return {
    meta,
    bytes() {
      // getRawAsset (no copy) where available; the bytes are only read.
      const raw = typeof sea.getRawAsset === 'function' ? sea.getRawAsset(CARRIED_ASSET) : sea.getAsset(CARRIED_ASSET);
      return typeof raw === 'string' ? Buffer.from(raw, 'latin1') : new Uint8Array(raw);
    },
  };
}

/** Where the binary with this hash lives under `cacheDir`. */
export function carriedPath(cacheDir: string, sha256: string): string {
  return join(cacheDir, `ffmpeg-${sha256.slice(0, 16)}`, 'ffmpeg');
}

/** SHA-256 of bytes, lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Bytes hashed between two turns of the event loop by {@link sha256HexYielding}. */
const HASH_SLICE = 4 << 20;

/**
 * SHA-256 of bytes, lowercase hex, a slice at a time with a turn of the event
 * loop between slices: the listeners are up while the carried ffmpeg is
 * checked (a 70 MB binary hashed at once would hold every connection ~0.2 s).
 */
export async function sha256HexYielding(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.byteLength; at += HASH_SLICE) {
    hash.update(bytes.subarray(at, at + HASH_SLICE));
    await yieldToLoop();
  }
  return hash.digest('hex');
}

/** SHA-256 of a file, lowercase hex, read and hashed a chunk at a time. */
async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Undoes the build's encoding off the main thread (zlib's thread pool), so the listeners stay responsive. */
export async function decodeCarried(bytes: Uint8Array, encoding: CarriedEncoding): Promise<Uint8Array> {
  switch (encoding) {
    case 'identity':
      return bytes;
    case 'gzip':
      return promisify(gunzip)(bytes);
    case 'brotli':
      return promisify(brotliDecompress)(bytes);
  }
}

/** True when `path` holds exactly the binary described by `meta`, executable. */
async function verified(path: string, meta: CarriedMeta): Promise<boolean> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return false;
  }
  if (!info.isFile() || info.size !== meta.size || (info.mode & 0o111) === 0) return false;
  return (await sha256OfFile(path)) === meta.sha256;
}

/**
 * Makes the carried binary available as an executable file under `cacheDir`:
 * reuses a verified copy, else unpacks it (temporary file, fsync, SHA-256
 * check, chmod 0755, atomic rename). Throws FfmpegExtractError when the
 * directory cannot be written or the asset does not match its hash.
 */
export async function extractCarried(source: CarriedSource, cacheDir: string): Promise<ExtractResult> {
  const started = performance.now();
  const { meta } = source;
  const path = carriedPath(cacheDir, meta.sha256);
  if (await verified(path, meta)) return { path, action: 'reused', ms: performance.now() - started };

  const binary = await decodeCarried(source.bytes(), meta.encoding);
  if (binary.byteLength !== meta.size || (await sha256HexYielding(binary)) !== meta.sha256) {
    throw new FfmpegExtractError(`carried ffmpeg is corrupt: expected ${meta.size} bytes with sha256 ${meta.sha256}`);
  }
  const dir = join(path, '..');
  const temp = join(dir, `.ffmpeg.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o700);
    try {
      await handle.writeFile(binary);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o755);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new FfmpegExtractError(`cannot unpack the carried ffmpeg into ${dir}: ${(err as Error).message}`, { cause: err });
  }
  await syncDir(dir);
  // The bytes were hashed before writing; a size check catches a short write (or a racing writer's bad file).
  const written = await stat(path);
  if (written.size !== meta.size) {
    throw new FfmpegExtractError(`the unpacked ffmpeg at ${path} has ${written.size} bytes, expected ${meta.size}`);
  }
  return { path, action: 'extracted', ms: performance.now() - started };
}

/** fsync a directory so the rename survives a power cut; best effort (not every filesystem allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignore: durability only
  }
}
