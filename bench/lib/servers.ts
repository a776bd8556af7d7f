/**
 * The servers under test: proxy-rtmp (the esbuild bundle, run by node), and the
 * peers nginx + libnginx-mod-rtmp and Node-Media-Server. Each runs in its own
 * process on free ports, so its CPU and memory are read from /proc alone.
 * The peers are bench tools only, never dependencies of the product.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { bundle } from '../../build/bundle.ts';
import { CACHE_DIR } from './inputs.ts';
import { accepts, freePort, runToEnd, start, waitFor, type Child } from './util.ts';

/** A running server under test. */
export interface Server {
  name: string;
  pid: number;
  rtmpPort: number;
  /** Where HLS is served, when it is. */
  httpPort?: number;
  grpcPort?: number;
  /** proxy-rtmp's transcode output root (one directory per stream key). */
  outputDir?: string;
  /** `rtmp://127.0.0.1:port/live/<key>` */
  url(key: string): string;
  /** The first playlist a player loads for `key`, when the server makes HLS. */
  playlistUrl?(key: string): string;
  output(): string;
  stop(): Promise<void>;
}

const TMP = () => mkdtempSync(join(tmpdir(), 'proxy-rtmp-bench-'));

/** Builds the current source into bench/.cache/proxy-rtmp.cjs (not dist/, which the build owns). */
export async function buildBundle(): Promise<string> {
  return bundle(join(CACHE_DIR, 'proxy-rtmp.cjs'));
}

function wrap(name: string, child: Child, ports: { rtmpPort: number; httpPort?: number; grpcPort?: number; outputDir?: string }, cleanup: () => void, playlist?: (key: string) => string): Server {
  return {
    name,
    pid: child.pid,
    ...ports,
    url: (key) => `rtmp://127.0.0.1:${ports.rtmpPort}/live/${key}`,
    ...(playlist === undefined ? {} : { playlistUrl: playlist }),
    output: child.output,
    async stop() {
      await child.stop('SIGTERM', 8000);
      cleanup();
    },
  };
}

async function ready(child: Child, name: string, ports: number[], timeoutMs = 30_000): Promise<void> {
  let exited = false;
  void child.closed.then(() => (exited = true));
  await waitFor(async () => {
    if (exited) throw new Error(`${name} exited at start:\n${child.output().slice(-3000)}`);
    for (const p of ports) if (!(await accepts(p))) return false;
    return true;
  }, `${name} to listen`, timeoutMs, 10);
}

/** Options of a proxy-rtmp run. */
export interface OursOptions {
  transcode: boolean;
  /** Extra RTMP_* variables. */
  env?: Record<string, string>;
  /** Options for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** The ffmpeg to transcode with (RTMP_FFMPEG_PATH); default: the server's own choice. */
  ffmpegPath?: string;
}

/** proxy-rtmp from the bundle, on free ports, logging warnings only. */
export async function startOurs(bundlePath: string, o: OursOptions): Promise<Server> {
  const [rtmpPort, httpPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const dir = TMP();
  const child = start(process.execPath, [...(o.nodeArgs ?? []), resolve(bundlePath)], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      RTMP_HOST: '127.0.0.1',
      RTMP_PORT: String(rtmpPort),
      RTMP_HTTP_HOST: '127.0.0.1',
      RTMP_HTTP_PORT: String(httpPort),
      RTMP_GRPC_HOST: '127.0.0.1',
      RTMP_GRPC_PORT: String(grpcPort),
      RTMP_OUTPUT_DIR: join(dir, 'out'),
      RTMP_TRANSCODE: String(o.transcode),
      // Publishers without -re push far above the 10 Mbit/s default limit.
      RTMP_MAX_BITRATE: '100000',
      RTMP_DRAIN_GRACE_MS: '0',
      RTMP_LINGER_SECONDS: '0',
      // The floor is libx264: compare like with like even where a GPU exists.
      RTMP_ENCODER: 'x264',
      RTMP_LOG_LEVEL: 'warn',
      RTMP_LOG_FORMAT: 'json',
      ...(o.ffmpegPath === undefined ? {} : { RTMP_FFMPEG_PATH: o.ffmpegPath }),
      ...o.env,
    },
  });
  await ready(child, 'proxy-rtmp', [rtmpPort, httpPort, grpcPort]);
  return wrap('proxy-rtmp', child, { rtmpPort, httpPort, grpcPort, outputDir: join(dir, 'out') }, () => rmSync(dir, { recursive: true, force: true }),
    (key) => `http://127.0.0.1:${httpPort}/streams/${key}/master.m3u8`);
}

/**
 * The ffmpeg proxy-rtmp would pick when run from this checkout: the
 * ffmpeg-static package's binary when it is installed, else `ffmpeg` on the PATH.
 * The bench hands the same binary to proxy-rtmp and to the bare-ffmpeg floor.
 */
export function defaultFfmpeg(): { path: string; version: string } {
  let path = 'ffmpeg';
  try {
    // The package exports the binary's path (a string, or `{ path }` in some versions).
    const exported = createRequire(import.meta.url)('ffmpeg-static') as unknown;
    const bin = typeof exported === 'string' ? exported : (exported as { path?: unknown } | null)?.path;
    if (typeof bin === 'string' && existsSync(bin)) path = bin;
  } catch {
    // not installed: the PATH's ffmpeg
  }
  return { path, version: ffmpegVersion(path) };
}

/** `ffmpeg version X` of a binary, or 'not found'. */
export function ffmpegVersion(path: string): string {
  const r = spawnSync(path, ['-hide_banner', '-version'], { encoding: 'utf8' });
  return r.error === undefined ? (/^ffmpeg version \S+/.exec(r.stdout)?.[0] ?? 'unknown version') : 'not found';
}

/** The nginx rtmp module, when installed (Debian: libnginx-mod-rtmp). */
const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
export const NGINX_HINT = 'apt-get install -y nginx libnginx-mod-rtmp';

export function nginxAvailable(): boolean {
  return existsSync(NGINX_RTMP_MODULE) && ['/usr/sbin/nginx', '/usr/bin/nginx'].some((p) => existsSync(p));
}

/**
 * nginx-rtmp with one worker (proxy-rtmp is one event loop too): `live on;
 * record off;` for ingest, plus `hls on` (2 s fragments, remuxed, not
 * transcoded) served over HTTP when `hls` is set.
 */
export async function startNginx(o: { hls: boolean }): Promise<Server> {
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const dir = TMP();
  mkdirSync(join(dir, 'logs'));
  mkdirSync(join(dir, 'hls'));
  const hls = o.hls
    ? `hls on; hls_path ${dir}/hls; hls_fragment 2s; hls_playlist_length 12s; hls_cleanup on;`
    : '';
  writeFileSync(join(dir, 'nginx.conf'), `
load_module ${NGINX_RTMP_MODULE};
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    chunk_size 4096;
    application live { live on; record off; ${hls} }
  }
}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${httpPort};
    location /hls/ { root ${dir}; add_header Cache-Control no-cache; }
  }
}
`);
  const child = start('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  await ready(child, 'nginx', [rtmpPort, httpPort]);
  return wrap('nginx-rtmp', child, { rtmpPort, httpPort }, () => rmSync(dir, { recursive: true, force: true }),
    (key) => `http://127.0.0.1:${httpPort}/hls/${key}.m3u8`);
}

/** Node-Media-Server, pinned, installed on first use into bench/.peers (gitignored). */
export const NMS_VERSION = '4.4.3';
const PEERS_DIR = join(import.meta.dirname, '..', '.peers');
const NMS_DIR = join(PEERS_DIR, 'node_modules', 'node-media-server');
export const NMS_HINT = `npm install --no-save --prefix bench/.peers node-media-server@${NMS_VERSION}`;

/** Installs Node-Media-Server when missing; false when that is impossible (offline). */
export async function ensureNms(log: (line: string) => void): Promise<boolean> {
  if (existsSync(join(NMS_DIR, 'package.json'))) return true;
  log(`installing node-media-server@${NMS_VERSION} into bench/.peers (bench only, not a dependency)`);
  try {
    await runToEnd('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', PEERS_DIR, `node-media-server@${NMS_VERSION}`]);
  } catch (err) {
    log(`cannot install node-media-server: ${(err as Error).message.split('\n')[0]}`);
    return false;
  }
  return existsSync(join(NMS_DIR, 'package.json'));
}

/** Node-Media-Server with RTMP only (no HTTP, no recording). */
export async function startNms(): Promise<Server> {
  const rtmpPort = await freePort();
  const dir = TMP();
  const child = start(process.execPath, [join(import.meta.dirname, 'nms-runner.cjs'), NMS_DIR, String(rtmpPort), dir], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await ready(child, 'node-media-server', [rtmpPort]);
  return wrap(`node-media-server ${NMS_VERSION}`, child, { rtmpPort }, () => rmSync(dir, { recursive: true, force: true }));
}

/**
 * The Node floor (bench/lib/net-floor.ts, bundled like proxy-rtmp): a bare
 * `node:net` server that negotiates the publish, then discards every byte.
 */
export async function startNodeFloor(o: { sampler?: boolean; coalesceMs?: number } = {}): Promise<Server> {
  const out = join(CACHE_DIR, 'net-floor.cjs');
  await build({ entryPoints: [join(import.meta.dirname, 'net-floor.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
  const rtmpPort = await freePort();
  const coalesce = o.coalesceMs === undefined ? [] : [`--coalesce=${o.coalesceMs}`];
  const child = start(process.execPath, [out, String(rtmpPort), ...(o.sampler === true ? ['--sampler'] : []), ...coalesce]);
  await ready(child, 'node net floor', [rtmpPort]);
  const name = o.sampler === true ? 'node floor + SystemSampler (1 s)' : o.coalesceMs === undefined ? 'node net floor (reads, discards)' : `node net floor, reads every ${o.coalesceMs} ms`;
  return wrap(name, child, { rtmpPort }, () => {});
}
