import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { HttpServer } from '../../src/http/http-server.ts';
import { IMMUTABLE, LIVE_PLAYLIST } from '../../src/package/outputs.ts';
import { MemoryOutputs } from '../support/memory-outputs.ts';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request with a raw path (the client does not normalise it) on a fresh connection. */
function fetchRaw(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HttpServer', () => {
  let server: HttpServer;
  let port: number;
  const segment = randomBytes(1 << 20);
  const big = randomBytes(8 << 20);
  const playlist = '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n';
  const outputs = new MemoryOutputs();
  const get = (path: string, headers?: Record<string, string>) => fetchRaw(port, path, { headers });

  before(async () => {
    outputs.set('live', 'master.m3u8', playlist);
    outputs.set('live', 'media_0.m3u8', playlist);
    outputs.set('live', 'manifest.mpd', '<MPD/>');
    outputs.set('live', 'init-0.mp4', 'init');
    outputs.set('live', 'chunk-0-00001.m4s', segment);
    outputs.set('live', 'big.m4s', big);
    outputs.set('live', 'empty.m4s', '');
    outputs.set('live', 'notes.txt', 'x');
    server = new HttpServer({ host: '127.0.0.1', port: 0 }, pino({ level: 'silent' }), { outputs });
    server.route('/metrics', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('up 1\n');
    });
    server.route('/boom', async () => {
      throw new Error('boom');
    });
    port = (await server.listen()).port;
  });
  after(async () => {
    await server?.close();
  });

  test('the type, caching and validators the store gives; the query reaches the store', async () => {
    const cases: [string, string, string][] = [
      ['/streams/live/master.m3u8', 'application/vnd.apple.mpegurl', LIVE_PLAYLIST],
      ['/streams/live/media_0.m3u8', 'application/vnd.apple.mpegurl', LIVE_PLAYLIST],
      ['/streams/live/dash/manifest.mpd', 'application/dash+xml', LIVE_PLAYLIST],
      ['/streams/live/dash/init-0.mp4', 'video/mp4', IMMUTABLE],
      ['/streams/live/chunk-0-00001.m4s', 'video/iso.segment', IMMUTABLE],
      ['/streams/live/dash/chunk-0-00001.m4s', 'video/iso.segment', IMMUTABLE],
    ];
    for (const [path, type, cache] of cases) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.headers['cache-control'], cache, path);
      assert.equal(r.headers['accept-ranges'], 'bytes', path);
      assert.match(r.headers.etag ?? '', /^"/, path);
      assert.equal(r.headers['last-modified'], new Date(Date.UTC(2026, 0, 1)).toUTCString(), path);
      assert.equal(Number(r.headers['content-length']), r.body.length, path);
    }
    const m = await get('/streams/live/master.m3u8?_HLS_msn=3');
    assert.equal(m.body.toString(), playlist);
    assert.equal(outputs.calls.at(-1)!.info.search.get('_HLS_msn'), '3');
    assert.ok((await get('/streams/live/chunk-0-00001.m4s')).body.equals(segment));
  });

  test('HEAD sends the same headers and no body', async () => {
    const g = await get('/streams/live/chunk-0-00001.m4s');
    const h = await fetchRaw(port, '/streams/live/chunk-0-00001.m4s', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    for (const name of ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified', 'accept-ranges']) {
      assert.equal(h.headers[name], g.headers[name], name);
    }
  });

  test('Range: closed, open-ended, suffix, clamped, unsatisfiable, multiple', async () => {
    const path = '/streams/live/chunk-0-00001.m4s';
    const size = segment.length;
    let r = await get(path, { Range: 'bytes=0-99' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 0-99/${size}`);
    assert.equal(r.headers['content-length'], '100');
    assert.ok(r.body.equals(segment.subarray(0, 100)));

    r = await get(path, { Range: `bytes=${size - 10}-` });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${size - 10}-${size - 1}/${size}`);
    assert.ok(r.body.equals(segment.subarray(size - 10)));

    r = await get(path, { Range: 'bytes=-500' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${size - 500}-${size - 1}/${size}`);
    assert.ok(r.body.equals(segment.subarray(size - 500)));

    r = await get(path, { Range: `bytes=100-${size * 2}` });
    assert.equal(r.status, 206);
    assert.equal(r.body.length, size - 100);

    r = await get(path, { Range: `bytes=${size}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${size}`);

    r = await get('/streams/live/empty.m4s', { Range: 'bytes=0-' });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], 'bytes */0');

    r = await get(path, { Range: 'bytes=0-1,10-20' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, size);

    r = await get(path, { Range: 'bytes=0-1', 'If-Range': 'W/"stale"' });
    assert.equal(r.status, 200);

    r = await fetchRaw(port, path, { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-length'], '10');
    assert.equal(r.body.length, 0);
  });

  test('an empty file is served as 200 with no body', async () => {
    const r = await get('/streams/live/empty.m4s');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '0');
  });

  test('304 via If-None-Match and If-Modified-Since; a new body has a new ETag', async () => {
    const path = '/streams/live/media_0.m3u8';
    const first = await get(path);
    const etag = first.headers.etag ?? '';
    let r = await get(path, { 'If-None-Match': etag });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.etag, etag);
    assert.equal(r.headers['cache-control'], LIVE_PLAYLIST);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    r = await get(path, { 'If-Modified-Since': first.headers['last-modified'] ?? '' });
    assert.equal(r.status, 304);

    outputs.set('live', 'media_0.m3u8', `${playlist}#EXTINF:2,\nchunk-0-00001.m4s\n`);
    r = await get(path, { 'If-None-Match': etag });
    assert.equal(r.status, 200);
    assert.notEqual(r.headers.etag, etag);
  });

  test('404 for unknown key, unknown file, bad extension, directories, other paths', async () => {
    for (const path of [
      '/streams/nokey/master.m3u8',
      '/streams/live/media_9.m3u8',
      '/streams/live/notes.txt',
      '/streams/live/master.M3U8',
      '/streams/live/dash/sub/manifest.mpd',
      '/',
      '/streams',
      '/index.html',
    ]) {
      const r = await get(path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['access-control-allow-origin'], '*', path);
    }
  });

  test('traversal and odd paths are 404 and never reach the store', async () => {
    const asked = outputs.calls.length;
    for (const path of [
      '/streams/../etc/passwd',
      '/streams/../secret.m4s',
      '/streams/%2e%2e/x',
      '/streams/%2e%2e/secret.m4s',
      '/streams/%2e%2e/outside/secret.m4s',
      '/streams/live/%2e%2e%2fx',
      '/streams/live/%2e%2e%2f%2e%2e%2fsecret.m4s',
      '/streams/live/..%2f..%2foutside%2fsecret.m4s',
      '/streams/live/..%5cx',
      '/streams/live/..%5c..%5csecret.m4s',
      '/streams/live/%252e%252e%252f%252e%252e%252fsecret.m4s',
      '/streams/%252e%252e/secret.m4s',
      '/streams/live/dash/../../../secret.m4s',
      '/streams/live/dash/%2e%2e/init-0.m4s',
      '/streams/live/%00init-0.m4s',
      '/streams/live/init-0.m4s%00.m4s',
      '/streams/live//init-0.m4s',
      '/streams/live/.%2e/.%2e/secret.m4s',
      '//streams/live/init-0.m4s',
      '/streams/live/init-0.m4s/',
    ]) {
      const r = await get(path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.body.toString().includes('SECRET'), path);
    }
    assert.equal(outputs.calls.length, asked, 'the store was never asked');
  });

  test('CORS headers on responses and the OPTIONS preflight', async () => {
    const r = await get('/streams/live/master.m3u8', { Origin: 'https://player.example' });
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-expose-headers'], 'Content-Length, Content-Range');
    const p = await fetchRaw(port, '/streams/live/master.m3u8', {
      method: 'OPTIONS',
      headers: { Origin: 'https://player.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
    });
    assert.equal(p.status, 204);
    assert.equal(p.body.length, 0);
    assert.equal(p.headers['access-control-allow-origin'], '*');
    assert.equal(p.headers['access-control-allow-methods'], 'GET, HEAD, OPTIONS');
    assert.match(p.headers['access-control-allow-headers'] ?? '', /\bRange\b/i);
  });

  test('other methods are 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await fetchRaw(port, '/streams/live/master.m3u8', { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD, OPTIONS');
      assert.equal(r.headers['access-control-allow-origin'], '*');
    }
  });

  test('a registered route is served; one that throws gives 500 and the server lives on', async () => {
    const r = await get('/metrics?x=1');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'up 1\n');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    const b = await get('/boom');
    assert.equal(b.status, 500);
    assert.equal((await get('/streams/live/init-0.mp4')).status, 200);
  });

  test('stats count requests and body bytes', async () => {
    const before = { ...server.stats };
    const r = await get('/streams/live/chunk-0-00001.m4s');
    assert.equal(r.body.length, segment.length);
    const partial = await get('/streams/live/chunk-0-00001.m4s', { Range: 'bytes=0-9' });
    assert.equal(partial.body.length, 10);
    await fetchRaw(port, '/streams/live/chunk-0-00001.m4s', { method: 'HEAD' });
    assert.equal(server.stats.bytesOut - before.bytesOut, segment.length + 10);
    assert.equal(server.stats.requests - before.requests, 3);
  });

  test('50 concurrent GETs of a 1 MB segment all succeed', async () => {
    const digest = createHash('sha256').update(segment).digest('hex');
    const replies = await Promise.all(Array.from({ length: 50 }, () => get('/streams/live/chunk-0-00001.m4s')));
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.equal(createHash('sha256').update(r.body).digest('hex'), digest);
    }
  });

  test('clients that leave mid-body do not disturb the others', async () => {
    await Promise.all(Array.from({ length: 10 }, () => new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/streams/live/big.m4s', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    })));
    assert.ok((await get('/streams/live/big.m4s')).body.equals(big));
  });
});

describe('HttpServer timeouts and close', () => {
  let server: HttpServer;
  let port: number;

  before(async () => {
    const outputs = new MemoryOutputs();
    outputs.set('k', 'master.m3u8', '#EXTM3U\n');
    server = new HttpServer(
      { host: '127.0.0.1', port: 0, corsOrigin: 'https://app.example', headersTimeoutMs: 500, requestTimeoutMs: 1000 },
      pino({ level: 'silent' }),
      { outputs },
    );
    port = (await server.listen()).port;
  });
  after(async () => {
    await server?.close();
  });

  test('corsOrigin is used when set', async () => {
    const r = await fetchRaw(port, '/streams/k/master.m3u8');
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
  });

  test('a client dripping its headers is cut at the headers timeout', async () => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const t0 = Date.now();
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.write('GET /streams/k/master.m3u8 HTTP/1.1\r\n');
    const closed = once(socket, 'close');
    for (let i = 0; i < 40 && !socket.destroyed; i++) {
      socket.write(`X-Drip-${i}: 1\r\n`);
      await sleep(50);
    }
    await closed;
    const elapsed = Date.now() - t0;
    // Timeouts are checked every connectionsCheckingInterval (min(1 s, headersTimeout)).
    assert.ok(elapsed >= 400 && elapsed < 1900, `closed after ${elapsed} ms`);
    assert.match(Buffer.concat(received).toString(), /^HTTP\/1\.1 408 /);
  });

  test('invalid options are refused naming the option', () => {
    const log = pino({ level: 'silent' });
    assert.throws(() => new HttpServer({ host: '', port: 0 }, log), { code: 'ERR_CONFIG_INVALID', message: /http\.host/ });
    assert.throws(() => new HttpServer({ host: '127.0.0.1', port: 70000 }, log), { code: 'ERR_CONFIG_INVALID', message: /http\.port/ });
  });

  test('close ends idle keep-alive sockets promptly', async () => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET /streams/k/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    socket.resume();
    const closed = once(socket, 'close');
    const t0 = Date.now();
    await server.close();
    await closed;
    assert.ok(Date.now() - t0 < 1000);
  });
});
