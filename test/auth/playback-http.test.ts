import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthFailures } from '../../src/auth/failures.ts';
import { PlaybackGuard } from '../../src/auth/playback.ts';
import { playbackSubject, publishSubject, signedQuery } from '../../src/auth/signed-url.ts';
import { HttpServer } from '../../src/http/http-server.ts';
import { createLogger } from '../../src/log.ts';
import { PUBLISHED_MASTER_FILE } from '../../src/transcode/master-playlist.ts';

const SECRET = 'playback-secret-0123456';
const NOW_MS = Date.now();
const nowS = Math.floor(NOW_MS / 1000);
const token = (key: string, exp = nowS + 60, secret = SECRET) => signedQuery(secret, playbackSubject(key), exp);

const MASTER = '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x240\nmedia_0.m3u8\n';
const MEDIA = '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="init-0.m4s"\n#EXTINF:1.0,\nchunk-0-00001.m4s\n';
const MPD = '<MPD><Period><AdaptationSet><Representation id="0"><SegmentTemplate initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s"/></Representation></AdaptationSet></Period></MPD>\n';

describe('HTTP playback with signed URLs (fixture files)', () => {
  const failures = new AuthFailures();
  let http: HttpServer;
  let base: string;

  before(async () => {
    const root = mkdtempSync(join(tmpdir(), 'proxy-rtmp-playback-'));
    mkdirSync(join(root, 'cam1'));
    writeFileSync(join(root, 'cam1', PUBLISHED_MASTER_FILE), MASTER);
    writeFileSync(join(root, 'cam1', 'media_0.m3u8'), MEDIA);
    writeFileSync(join(root, 'cam1', 'manifest.mpd'), MPD);
    writeFileSync(join(root, 'cam1', 'init-0.m4s'), Buffer.alloc(500, 1));
    writeFileSync(join(root, 'cam1', 'chunk-0-00001.m4s'), Buffer.alloc(1000, 2));
    const guard = new PlaybackGuard({ secrets: [SECRET, 'the-older-secret-7890'], maxTtlS: 3600, failures, now: () => NOW_MS });
    http = new HttpServer({ host: '127.0.0.1', port: 0, root }, createLogger({ level: 'silent', format: 'json' }), { playback: guard });
    base = `http://127.0.0.1:${(await http.listen()).port}`;
  });
  after(() => http?.close());

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
    const res = await fetch(base + path, { headers, method });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  }

  test('refused without a valid token, before the file system (unknown keys are 403 too)', async () => {
    const publishToken = signedQuery(SECRET, publishSubject('live', 'cam1'), nowS + 60);
    const cases: [string, string][] = [
      ['/streams/cam1/master.m3u8', 'missing'],
      [`/streams/cam1/master.m3u8?${token('cam1', nowS - 1)}`, 'expired'],
      [`/streams/cam1/master.m3u8?${token('cam1', nowS + 7200)}`, 'expiry-too-far'],
      [`/streams/cam1/master.m3u8?${token('cam2')}`, 'bad-signature'],
      [`/streams/cam1/master.m3u8?${publishToken}`, 'bad-signature'],
      [`/streams/cam1/master.m3u8?exp=soon&sig=x`, 'malformed'],
      [`/streams/cam1/chunk-0-00001.m4s`, 'missing'],
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
    assert.equal((await get(`/streams/cam1/nothing.m3u8?${token('cam1')}`)).status, 404, 'with a token, missing files are 404');
  });

  test('playlists are rewritten with the token, with their own length, ETag, 304 and HEAD; ranges are ignored', async () => {
    const t = token('cam1');
    const master = await get(`/streams/cam1/master.m3u8?${t}`);
    assert.equal(master.status, 200);
    assert.equal(master.body.toString(), MASTER.replace('media_0.m3u8', `media_0.m3u8?${t}`));
    assert.equal(master.headers.get('content-length'), String(master.body.length));
    assert.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    assert.equal(master.headers.get('cache-control'), 'no-cache');
    assert.equal(master.headers.get('accept-ranges'), 'none');
    const etag = master.headers.get('etag')!;
    assert.equal((await get(`/streams/cam1/master.m3u8?${t}`, { 'If-None-Match': etag })).status, 304);
    const older = token('cam1', nowS + 30, 'the-older-secret-7890');
    assert.equal((await get(`/streams/cam1/master.m3u8?${older}`, { 'If-None-Match': etag })).status, 200, 'another token, another ETag');
    const head = await get(`/streams/cam1/master.m3u8?${t}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get('content-length'), String(master.body.length));
    const ranged = await get(`/streams/cam1/master.m3u8?${t}`, { Range: 'bytes=0-3' });
    assert.equal(ranged.status, 200);
    assert.deepEqual(ranged.body, master.body);

    const media = await get(`/streams/cam1/media_0.m3u8?${t}`);
    assert.equal(media.body.toString(), MEDIA.replace('init-0.m4s', `init-0.m4s?${t}`).replace('chunk-0-00001.m4s', `chunk-0-00001.m4s?${t}`));
    const mpd = await get(`/streams/cam1/dash/manifest.mpd?${t}`);
    const x = t.replace('&', '&amp;');
    assert.equal(mpd.body.toString(), MPD.replace('.m4s"', `.m4s?${x}"`).replace('%05d$.m4s"', `%05d$.m4s?${x}"`));
  });

  test('segments with the token are served as files: ranges and caching unchanged', async () => {
    const t = token('cam1');
    const seg = await get(`/streams/cam1/chunk-0-00001.m4s?${t}`, { Range: 'bytes=10-19' });
    assert.equal(seg.status, 206);
    assert.deepEqual(seg.body, Buffer.alloc(10, 2));
    assert.equal(seg.headers.get('cache-control'), 'public, max-age=30');
    const init = await get(`/streams/cam1/dash/init-0.m4s?${t}`);
    assert.equal(init.status, 200);
    assert.equal(init.body.length, 500);
  });
});
