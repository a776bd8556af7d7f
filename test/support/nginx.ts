import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedWithin } from './process.ts';

/**
 * The caching part of the nginx configuration the README recommends in front
 * of proxy-rtmp (a CDN edge in miniature): the cache key keeps the query, so
 * blocking playlist requests with distinct `_HLS_msn`/`_HLS_part` are cached
 * apart; upstream's Cache-Control decides lifetimes; proxy_cache_lock folds
 * identical requests (many players blocking on the same part) into one;
 * X-Accel-Buffering from proxy-rtmp turns buffering off for LL-DASH's
 * chunked open segment.
 */
export function cachingLocation(upstream: string): string {
  return `
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_cache live;
      proxy_cache_key $scheme$proxy_host$request_uri;
      proxy_cache_lock on;
      proxy_cache_lock_age 10s;
      proxy_cache_lock_timeout 10s;
      proxy_read_timeout 30s;
      add_header X-Cache-Status $upstream_cache_status always;
    }`;
}

/** A running nginx: its port and how to stop it. */
export interface CachingProxy {
  readonly port: number;
  stop(): Promise<void>;
  /** Its error log so far (for a failing assertion's message). */
  errorLog(): string;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * nginx (Debian package `nginx`) as a caching reverse proxy in front of
 * `upstreamPort`, run as the current user from a temporary prefix: config,
 * pid, logs, temp and cache paths all inside it, `daemon off`, one worker.
 */
export async function startCachingProxy(upstreamPort: number): Promise<CachingProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-nginx-'));
  for (const sub of ['logs', 'tmp', 'cache']) mkdirSync(join(dir, sub));
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/tmp/${t};`).join(' ');
  writeFileSync(join(dir, 'nginx.conf'), `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temp}
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=live:10m max_size=256m inactive=10m use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    ${cachingLocation(`127.0.0.1:${upstreamPort}`)}
  }
}
`);
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = closedWithin(child, 10 * 60_000, 'nginx', () => err);
  const readLog = (): string => {
    try {
      return readFileSync(join(dir, 'logs', 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await closed.catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    errorLog: readLog,
    async stop() {
      child.kill('SIGQUIT');
      const quit = await Promise.race([closed.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!quit) child.kill('SIGKILL');
      await closed.catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
