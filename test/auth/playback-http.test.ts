import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthFailures } from '../../src/auth/failures.ts';
import { PlaybackGuard } from '../../src/auth/playback.ts';
import { playbackSubject, publishSubject, signedQuery } from '../../src/auth/signed-url.ts';
import { HttpServer } from '../../src/http/http-server.ts';
import { createLogger } from '../../src/log.ts';
import { PackagedOutputs } from '../../src/package/outputs.ts';
import { StreamPackager } from '../../src/package/stream-packager.ts';

const SECRET = 'playback-secret-0123456';
const NOW_MS = Date.now();
const nowS = Math.floor(NOW_MS / 1000);
const token = (key: string, exp = nowS + 60, secret = SECRET) => signedQuery(secret, playbackSubject(key), exp);

describe('HTTP playback with signed URLs (the packager\'s store)', () => {
  const failures = new AuthFailures();
  let http: HttpServer;
  let base: string;

  before(async () => {
    const TS = 90_000;
    const packager = new StreamPackager('cam1', [{ name: '360p', kind: 'video', bandwidth: 800_000, frameRate: 30 }], {
      segmentSeconds: 2, partSeconds: 0.5, windowSegments: 6, extraSegments: 1, maxBytes: 1 << 20, instanceId: 'i9', rebaseFragment: (b) => b,
    });
    packager.beginRun();
    packager.init('360p', { bytes: Buffer.alloc(500, 1), codecs: 'avc1.64001e', timescale: TS, width: 640, height: 360 });
    for (let t = 0; t < 4; t += 0.5) {
      packager.fragment('360p', { bytes: Buffer.alloc(250, 2), baseDecodeTime: t * TS, duration: TS / 2, independent: t % 2 === 0 }, NOW_MS + t * 1000);
    }
    const outputs = new PackagedOutputs({ lowLatency: false });
    outputs.set(packager);
    const guard = new PlaybackGuard({ secrets: [SECRET, 'the-older-secret-7890'], maxTtlS: 3600, failures, now: () => NOW_MS });
    http = new HttpServer({ host: '127.0.0.1', port: 0 }, createLogger({ level: 'silent', format: 'json' }), {
      playback: guard,
      outputs: { get: (key, file, { search, token }) => outputs.request(key, file, { search, token, timeUrl: '/time' }) },
    });
    base = `http://127.0.0.1:${(await http.listen()).port}`;
  });
  after(() => http?.close());

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
    const res = await fetch(base + path, { headers, method });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  }

  test('refused without a valid token, before the store is asked (unknown keys are 403 too)', async () => {
    const publishToken = signedQuery(SECRET, publishSubject('live', 'cam1'), nowS + 60);
    const cases: [string, string][] = [
      ['/streams/cam1/master.m3u8', 'missing'],
      [`/streams/cam1/master.m3u8?${token('cam1', nowS - 1)}`, 'expired'],
      [`/streams/cam1/master.m3u8?${token('cam1', nowS + 7200)}`, 'expiry-too-far'],
      [`/streams/cam1/master.m3u8?${token('cam2')}`, 'bad-signature'],
      [`/streams/cam1/master.m3u8?${publishToken}`, 'bad-signature'],
      [`/streams/cam1/master.m3u8?exp=soon&sig=x`, 'malformed'],
      [`/streams/cam1/360p-i9-1.m4s`, 'missing'],
      ['/streams/nobody/master.m3u8', 'missing'],
    ];
    for (const [path, reason] of cases) {
      const before = failures.get('play', reason as never);
      const r = await get(path);
      assert.equal(r.status, 403, path);
      assert.equal(r.body.toString(), 'forbidden\n');
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.equal(failures.get('play', reason as never), before + 1, `${path} counted as ${reason}`);
    }
    assert.equal((await get('/streams/cam1/master.m3u8', {}, 'OPTIONS')).status, 204, 'CORS preflight needs no token');
    assert.equal((await get(`/streams/cam1/nothing.m3u8?${token('cam1')}`)).status, 404, 'with a token, missing names are 404');
  });

  test('the token reaches every URI of the playlists and the manifest; each token its own ETag; 304 and HEAD', async () => {
    const t = token('cam1');
    const master = await get(`/streams/cam1/master.m3u8?${t}`);
    assert.equal(master.status, 200);
    assert.match(master.body.toString(), new RegExp(`^360p\\.m3u8\\?${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.equal(master.headers.get('content-length'), String(master.body.length));
    assert.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    const etag = master.headers.get('etag')!;
    assert.equal((await get(`/streams/cam1/master.m3u8?${t}`, { 'If-None-Match': etag })).status, 304);
    const older = token('cam1', nowS + 30, 'the-older-secret-7890');
    assert.equal((await get(`/streams/cam1/master.m3u8?${older}`, { 'If-None-Match': etag })).status, 200, 'another token, another ETag');
    const head = await get(`/streams/cam1/master.m3u8?${t}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get('content-length'), String(master.body.length));

    const media = (await get(`/streams/cam1/360p.m3u8?${t}`)).body.toString();
    const uris = [...media.matchAll(/^[^#].*$|URI="([^"]+)"/gm)].map((m) => m[1] ?? m[0]);
    assert.ok(uris.length >= 3 && uris.every((u) => u.endsWith(`?${t}`)), media);
    const mpd = (await get(`/streams/cam1/dash/manifest.mpd?${t}`)).body.toString();
    const x = t.replace('&', '&amp;');
    assert.match(mpd, new RegExp(`initialization="360p-i9-init0\\.mp4\\?${x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
  });

  test('segments with the token: ranges and caching as without', async () => {
    const t = token('cam1');
    const seg = await get(`/streams/cam1/360p-i9-1.m4s?${t}`, { Range: 'bytes=10-19' });
    assert.equal(seg.status, 206);
    assert.deepEqual(seg.body, Buffer.alloc(10, 2));
    assert.equal(seg.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const init = await get(`/streams/cam1/dash/360p-i9-init0.mp4?${t}`);
    assert.equal(init.status, 200);
    assert.equal(init.body.length, 500);
  });
});
