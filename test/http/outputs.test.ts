import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { HttpServer, type StreamResource } from '../../src/http/http-server.ts';
import { PackagedOutputs } from '../../src/package/outputs.ts';
import { StreamPackager } from '../../src/package/stream-packager.ts';

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
    server = new HttpServer({ host: '127.0.0.1', port: 0 }, pino({ level: 'silent' }), {
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

describe('HTTP from memory: LL-DASH sends the open segment with chunked transfer as its parts arrive', () => {
  const TS = 90_000;
  const packager = new StreamPackager('cam', [{ name: '360p', kind: 'video', bandwidth: 800_000, frameRate: 30 }], {
    segmentSeconds: 2, partSeconds: 0.5, windowSegments: 6, extraSegments: 1, maxBytes: 1 << 20, instanceId: 'i9', rebaseFragment: (b) => b,
  });
  const feed = (t: number) => packager.fragment('360p', { bytes: Buffer.alloc(1000 + t * 10, t), baseDecodeTime: t * TS, duration: TS / 2, independent: t % 2 === 0 }, 1_000_000 + t * 1000);
  let server: HttpServer;
  let base = '';
  before(async () => {
    const outputs = new PackagedOutputs({ lowLatency: true });
    packager.beginRun();
    packager.init('360p', { bytes: Buffer.from('init'), codecs: 'avc1.64001e', timescale: TS, width: 640, height: 360 });
    outputs.set(packager);
    for (let t = 0; t <= 4; t += 0.5) feed(t); // segments 1-2 complete, 3 open with one part
    server = new HttpServer({ host: '127.0.0.1', port: 0 }, pino({ level: 'silent' }), {
      outputs: { get: (key, file, { search, token }) => outputs.request(key, file, { search, token, timeUrl: '/time' }) },
    });
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  after(() => server?.close());

  test('the first bytes come before the segment closes; the whole body is the closed segment', async () => {
    const res = await fetch(`${base}/streams/cam/dash/360p-i9-3.m4s`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    assert.equal(res.headers.get('content-length'), null);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const reader = res.body!.getReader();
    const chunks: Buffer[] = [];
    const first = await reader.read();
    const firstAt = performance.now();
    chunks.push(Buffer.from(first.value!));
    let closedAt = 0;
    const producing = (async () => {
      for (const t of [4.5, 5, 5.5]) {
        await new Promise((r) => setTimeout(r, 60));
        feed(t);
      }
      closedAt = performance.now();
    })();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(Buffer.from(r.value));
    await producing;
    assert.ok(firstAt < closedAt - 150, `first bytes ${(closedAt - firstAt).toFixed(0)} ms before the segment closed`);
    const whole = packager.resource('360p-i9-3.m4s')!;
    assert.equal(whole.length, 4 * 1000 + (4 + 4.5 + 5 + 5.5) * 10);
    assert.deepEqual(Buffer.concat(chunks), whole);
    const again = await fetch(`${base}/streams/cam/dash/360p-i9-3.m4s`);
    assert.equal(again.headers.get('content-length'), String(whole.length), 'closed: a plain body');
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), whole);
    const far = await fetch(`${base}/streams/cam/dash/360p-i9-9.m4s`);
    assert.deepEqual([far.status, far.headers.get('cache-control')], [404, 'public, max-age=1']);
  });
});
