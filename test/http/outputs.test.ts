import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { HttpServer, type StreamResource } from '../../src/http/http-server.ts';

describe('HTTP from memory: /streams/ answered by the packager store', () => {
  const calls: { key: string; file: string; search: string; token: string | undefined; host: string | undefined }[] = [];
  const segment: StreamResource = {
    body: Buffer.from('0123456789'),
    contentType: 'video/iso.segment',
    cacheControl: 'public, max-age=31536000, immutable',
    etag: '"seg-1"',
    lastModified: Date.UTC(2026, 0, 1),
  };
  let server: HttpServer;
  let base = '';
  before(async () => {
    server = new HttpServer({ host: '127.0.0.1', port: 0, root: '/nonexistent' }, pino({ level: 'silent' }), {
      playback: { check: (_key, search) => (search.get('sig') === 'good' ? { ok: true, token: 'exp=1&sig=good' } : { ok: false, reason: 'no' }) },
      outputs: {
        async get(key, file, { search, token, host }) {
          calls.push({ key, file, search: search.toString(), token, host });
          await new Promise((r) => setTimeout(r, 5)); // may wait, as a blocking reload does
          if (file === 'v-abc-1.m4s') return segment;
          if (file === 'master.m3u8') return { ...segment, body: Buffer.from(`#EXTM3U\n# ${token}\n`), contentType: 'application/vnd.apple.mpegurl', cacheControl: 'no-cache', etag: 'W/"m1"' };
          if (file === 'v.m3u8') return { ...segment, status: 400, body: Buffer.from('_HLS_msn out of range'), cacheControl: 'no-cache' };
          return undefined;
        },
      },
    });
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  after(() => server?.close());

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(base + path, { headers, method });

  test('a segment: body, type, immutable caching, strong ETag, 304, HEAD, Range and 416', async () => {
    const r = await get('/streams/cam/v-abc-1.m4s?exp=1&sig=good');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '0123456789');
    assert.equal(r.headers.get('content-type'), 'video/iso.segment');
    assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(r.headers.get('etag'), '"seg-1"');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(calls.at(-1), { key: 'cam', file: 'v-abc-1.m4s', search: 'exp=1&sig=good', token: 'exp=1&sig=good', host: base.slice('http://'.length) });
    assert.equal((await get('/streams/cam/v-abc-1.m4s?sig=good', { 'If-None-Match': '"seg-1"' })).status, 304);
    const head = await get('/streams/cam/v-abc-1.m4s?sig=good', {}, 'HEAD');
    assert.equal(head.headers.get('content-length'), '10');
    assert.equal(await head.text(), '');
    const part = await get('/streams/cam/v-abc-1.m4s?sig=good', { Range: 'bytes=2-4' });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 2-4/10');
    assert.equal(await part.text(), '234');
    assert.equal((await get('/streams/cam/v-abc-1.m4s?sig=good', { Range: 'bytes=20-' })).status, 416);
  });

  test('the same file under dash/, the master by its public name, another status, and 404', async () => {
    assert.equal(await (await get('/streams/cam/dash/v-abc-1.m4s?sig=good')).text(), '0123456789');
    const master = await get('/streams/cam/master.m3u8?sig=good');
    assert.equal(await master.text(), '#EXTM3U\n# exp=1&sig=good\n');
    assert.equal(calls.at(-1)!.file, 'master.m3u8');
    const bad = await get('/streams/cam/v.m3u8?sig=good');
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /_HLS_msn out of range/);
    assert.equal((await get('/streams/cam/nothing.m4s?sig=good')).status, 404);
  });

  test('playback tokens are checked before the store is asked', async () => {
    const before = calls.length;
    assert.equal((await get('/streams/cam/v-abc-1.m4s?sig=bad')).status, 403);
    assert.equal(calls.length, before);
  });
});
