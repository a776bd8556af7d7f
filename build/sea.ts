/**
 * Builds the single executable `dist/proxy-rtmp` (Node 20 SEA, x86-64 Linux):
 *
 * 1. esbuild bundles src/ into dist/proxy-rtmp.cjs (build/bundle.ts);
 * 2. the static ffmpeg to carry (FFMPEG_CARRY=/path, else ffmpeg-static's
 *    binary; FFMPEG_CARRY=none carries none) is hashed and gzipped into the
 *    asset `ffmpeg`, its SHA-256, size and encoding into `ffmpeg.json`
 *    (src/ffmpeg/carried.ts reads them);
 * 3. sea-config.json (the template at the top of the repository, its
 *    `dist/` paths moved to the output folder, the ffmpeg assets kept only
 *    when one is carried, and in its stored form) is written next to the
 *    executable and `node --experimental-sea-config` makes the blob;
 * 4. a copy of this Node binary gets the blob injected with postject, and is
 *    renamed into place.
 *
 * Run with `npm run build`. gzip, not the raw binary: the static ffmpeg is
 * 75 MB and 27 MB gzipped; unpacking it (gunzip, SHA-256, write, fsync) takes
 * ~0.3 s, once per cache directory.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { bundle } from './bundle.ts';
import { CARRIED_ASSET, CARRIED_META_ASSET, type CarriedMeta } from '../src/ffmpeg/carried.ts';

const execFileAsync = promisify(execFile);
const gzipAsync = promisify(gzip);

/** The fuse Node 20 looks for to know a blob was injected (Node docs, "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Inputs of {@link buildExecutable}; every field has a default. */
export interface SeaBuildOptions {
  /** The executable to write; default dist/proxy-rtmp. Its folder also receives the bundle, the assets and sea-config.json. */
  readonly out?: string;
  /** The ffmpeg to carry: a path, `null` for none; default FFMPEG_CARRY (`none` = none), else ffmpeg-static's binary. */
  readonly carry?: string | null;
  /** Store the binary gzipped (default) or as is. */
  readonly encoding?: 'gzip' | 'identity';
}

/** What was built, with the figures worth reporting. */
export interface SeaBuildResult {
  readonly executable: string;
  readonly bytes: number;
  /** Undefined when built without ffmpeg. */
  readonly carried: (CarriedMeta & { readonly from: string; readonly storedBytes: number }) | undefined;
  readonly ms: number;
}

/** ffmpeg-static's binary for this platform and its package version, when installed. */
function ffmpegStaticBinary(): { path: string; origin: string } {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('ffmpeg-static/package.json');
  const { version } = require(pkgPath) as { version: string };
  return { path: join(dirname(pkgPath), 'bin', process.platform, process.arch, 'ffmpeg'), origin: `ffmpeg-static@${version}` };
}

/** The repository's sea-config.json: the settings of the blob, with the default (dist/) paths. */
const SEA_CONFIG_TEMPLATE = new URL('../sea-config.json', import.meta.url);

/**
 * sea-config.json for this build: the template's settings, with the bundle,
 * blob and asset paths of this build (assets only those actually written).
 */
async function seaConfigFor(paths: { main: string; blob: string; assets: Record<string, string> }): Promise<Record<string, unknown>> {
  const template = JSON.parse(await readFile(SEA_CONFIG_TEMPLATE, 'utf8')) as { assets?: Record<string, string> } & Record<string, unknown>;
  const unknownAssets = Object.keys(paths.assets).filter((key) => !Object.hasOwn(template.assets ?? {}, key));
  if (unknownAssets.length > 0) throw new Error(`sea-config.json lists no asset ${unknownAssets.join(', ')}`);
  return { ...template, main: paths.main, output: paths.blob, assets: paths.assets };
}

/** Builds the single executable; see the module comment. */
export async function buildExecutable(options: SeaBuildOptions = {}): Promise<SeaBuildResult> {
  const started = performance.now();
  const out = resolve(options.out ?? 'dist/proxy-rtmp');
  const dir = dirname(out);
  await mkdir(dir, { recursive: true });
  const main = await bundle(join(dir, 'proxy-rtmp.cjs'));

  const env = process.env['FFMPEG_CARRY'];
  const carry = options.carry !== undefined ? options.carry : env === 'none' ? null : env ? env : undefined;
  const assets: Record<string, string> = {};
  let carried: SeaBuildResult['carried'];
  // Leave no assets of an earlier build behind (a test checks ffmpeg.json to know what the executable carries).
  await Promise.all(['ffmpeg.gz', 'ffmpeg.bin', 'ffmpeg.json'].map((f) => rm(join(dir, f), { force: true })));
  if (carry !== null) {
    const source = carry === undefined ? ffmpegStaticBinary() : { path: resolve(carry), origin: resolve(carry) };
    const binary = await readFile(source.path);
    const encoding = options.encoding ?? 'gzip';
    const stored = encoding === 'gzip' ? await gzipAsync(binary, { level: 6 }) : binary;
    const meta: CarriedMeta = { sha256: createHash('sha256').update(binary).digest('hex'), size: binary.byteLength, encoding, origin: source.origin };
    const assetPath = join(dir, encoding === 'gzip' ? 'ffmpeg.gz' : 'ffmpeg.bin');
    const metaPath = join(dir, 'ffmpeg.json');
    await writeFile(assetPath, stored);
    await writeFile(metaPath, `${JSON.stringify(meta)}\n`);
    assets[CARRIED_ASSET] = assetPath;
    assets[CARRIED_META_ASSET] = metaPath;
    carried = { ...meta, from: source.path, storedBytes: stored.byteLength };
  }

  const blob = join(dir, 'sea-prep.blob');
  const seaConfig = join(dir, 'sea-config.json');
  await writeFile(seaConfig, `${JSON.stringify(await seaConfigFor({ main, blob, assets }), null, 2)}\n`);
  await execFileAsync(process.execPath, ['--experimental-sea-config', seaConfig], { maxBuffer: 1 << 20 });

  const temp = `${out}.${process.pid}.tmp`;
  try {
    await copyFile(process.execPath, temp);
    await chmod(temp, 0o755);
    // postject's CLI in a child: its LIEF warnings stay out of our output, its ~1.4 GB peak out of our heap.
    const cli = join(dirname(createRequire(import.meta.url).resolve('postject/package.json')), 'dist', 'cli.js');
    await execFileAsync(process.execPath, [cli, temp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { maxBuffer: 16 << 20 });
    await rename(temp, out);
  } finally {
    await rm(temp, { force: true });
  }
  await rm(blob, { force: true });
  return { executable: out, bytes: (await stat(out)).size, carried, ms: performance.now() - started };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await buildExecutable(process.argv[2] === undefined ? {} : { out: process.argv[2] });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const what = result.carried === undefined ? 'no ffmpeg' : `ffmpeg ${result.carried.origin} (${mb(result.carried.size)}, ${mb(result.carried.storedBytes)} stored)`;
  process.stdout.write(`${result.executable}: ${mb(result.bytes)}, carries ${what}, built in ${(result.ms / 1000).toFixed(1)} s\n`);
}
