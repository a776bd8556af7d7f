import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import HLS from 'hls-parser';
import { BLOCKED_PLAYLIST, ENDED_PLAYLIST, IMMUTABLE, LIVE_PLAYLIST, NOT_YET, PackagedOutputs } from '../../src/package/outputs.ts';
import { StreamPackager } from '../../src/package/stream-packager.ts';

const TS = 90_000;

function packager(key = 'cam'): StreamPackager {
  const p = new StreamPackager(key, [{ name: '360p', kind: 'video', bandwidth: 800_000, frameRate: 30 }], {
    segmentSeconds: 2, partSeconds: 0.5, windowSegments: 6, extraSegments: 1, maxBytes: 1 << 20, instanceId: 'i9', rebaseFragment: (b) => b,
  });
  p.beginRun();
  p.init('360p', { bytes: Buffer.from('init'), codecs: 'avc1.64001e', timescale: TS, width: 640, height: 360 });
  return p;
}

function feed(p: StreamPackager, fromSecond: number, seconds: number): void {
  for (let t = fromSecond; t < fromSecond + seconds; t += 0.5) {
    p.fragment('360p', { bytes: Buffer.alloc(1000, t), baseDecodeTime: t * TS, duration: TS / 2, independent: t % 2 === 0 }, 1_000_000 + t * 1000);
  }
}

describe('PackagedOutputs: the HTTP paths of each stream, from its packager', () => {
  const request = { token: undefined, timeUrl: 'http://box:8080/time' };

  test('nothing before every track has a segment; then master, media playlist, MPD and media, each with its caching', () => {
    let now = 2_000_000;
    const outputs = new PackagedOutputs({ lowLatency: false }, () => now);
    const p = packager();
    outputs.set(p);
    assert.equal(outputs.resource('cam', 'master.m3u8', request), undefined);
    feed(p, 0, 1);
    assert.equal(outputs.resource('cam', 'master.m3u8', request), undefined, 'one part is not a segment');
    assert.ok(outputs.resource('cam', '360p-i9-1.0.m4s', request), 'but the part is served');
    feed(p, 1, 6);
    const master = outputs.resource('cam', 'master.m3u8', request)!;
    assert.equal(master.contentType, 'application/vnd.apple.mpegurl');
    assert.equal(master.cacheControl, LIVE_PLAYLIST);
    const parsed = HLS.parse(master.body.toString()) as HLS.types.MasterPlaylist;
    assert.deepEqual(parsed.variants.map((v) => [v.uri, v.resolution]), [['360p.m3u8', { width: 640, height: 360 }]]);
    const media = HLS.parse(outputs.resource('cam', '360p.m3u8', request)!.body.toString()) as HLS.types.MediaPlaylist;
    assert.deepEqual(media.segments.map((s) => s.uri), ['360p-i9-1.m4s', '360p-i9-2.m4s', '360p-i9-3.m4s']);
    assert.equal(media.mediaSequenceBase, 1);
    const mpd = outputs.resource('cam', 'manifest.mpd', request)!;
    assert.equal(mpd.contentType, 'application/dash+xml');
    assert.match(mpd.body.toString(), /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http:\/\/box:8080\/time"\/>/);
    assert.match(mpd.body.toString(), /type="dynamic"/);
    const seg = outputs.resource('cam', '360p-i9-2.m4s', request)!;
    assert.equal(seg.cacheControl, IMMUTABLE);
    assert.equal(seg.body.length, 4000);
    assert.equal(seg.etag, '"360p-i9-2.m4s-4000"');
    assert.equal(outputs.resource('cam', '360p-i9-init0.mp4', request)!.body.toString(), 'init');
    assert.equal(outputs.resource('cam', '720p.m3u8', request), undefined);
    assert.equal(outputs.resource('other', 'master.m3u8', request), undefined);
    // The playlist's ETag follows its text.
    const etag = outputs.resource('cam', '360p.m3u8', request)!.etag;
    assert.equal(outputs.resource('cam', '360p.m3u8', request)!.etag, etag);
    feed(p, 7, 2);
    assert.notEqual(outputs.resource('cam', '360p.m3u8', request)!.etag, etag);
    p.end();
    now += 1000;
    const ended = outputs.resource('cam', '360p.m3u8', request)!;
    assert.equal(ended.cacheControl, ENDED_PLAYLIST);
    assert.match(ended.body.toString(), /#EXT-X-ENDLIST/);
    assert.match(outputs.resource('cam', 'manifest.mpd', request)!.body.toString(), /type="static"/);
  });

  test('a playback token reaches every URI; delete() removes only the packager it names', () => {
    const outputs = new PackagedOutputs();
    const p = packager();
    outputs.set(p);
    feed(p, 0, 6);
    const withToken = { ...request, token: 'exp=9&sig=ab' };
    assert.match(outputs.resource('cam', 'master.m3u8', withToken)!.body.toString(), /^360p\.m3u8\?exp=9&sig=ab$/m);
    assert.match(outputs.resource('cam', '360p.m3u8', withToken)!.body.toString(), /^360p-i9-1\.m4s\?exp=9&sig=ab$/m);
    assert.match(outputs.resource('cam', 'manifest.mpd', withToken)!.body.toString(), /exp=9&amp;sig=ab/);
    outputs.delete(packager());
    assert.ok(outputs.get('cam'), 'another packager of the same key does not remove this one');
    outputs.delete(p);
    assert.equal(outputs.get('cam'), undefined);
  });

  test('LL-HLS: parts, preload hint and server control in the media playlist', () => {
    const outputs = new PackagedOutputs({ lowLatency: true });
    const p = packager();
    outputs.set(p);
    feed(p, 0, 4.5);
    const text = outputs.resource('cam', '360p.m3u8', request)!.body.toString();
    assert.match(text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\.5,CAN-SKIP-UNTIL=12/);
    assert.match(text, /#EXT-X-PART-INF:PART-TARGET=0\.5/);
    assert.match(text, /#EXT-X-PART:DURATION=0\.50000,URI="360p-i9-3\.0\.m4s",INDEPENDENT=YES/);
    assert.match(text, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="360p-i9-3\.1\.m4s"/);
    feed(p, 4.5, 1.5);
    assert.match(outputs.resource('cam', '360p.m3u8', request)!.body.toString(), /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="360p-i9-4\.0\.m4s"/, 'at the grid line the hint is the next segment');
  });

  test('blocking reload: held until the part exists, 400 past the advance limit, 503 when it does not come in time', async () => {
    let timeouts = 0;
    const fakeTimeout = { until: async (_p: StreamPackager, ready: () => boolean) => { if (ready()) return true; timeouts++; return false; } };
    const p = packager();
    feed(p, 0, 4.5); // segments 1-2 complete, 3 open with part 0
    const real = new PackagedOutputs({ lowLatency: true });
    real.set(p);
    const search = (q: string) => ({ ...request, search: new URLSearchParams(q) });
    const held = real.request('cam', '360p.m3u8', search('_HLS_msn=3&_HLS_part=2'));
    let settled = false;
    void held.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false, 'held while part 3.2 does not exist');
    feed(p, 4.5, 0.5);
    assert.equal(settled, false, 'part 3.1 is not enough');
    feed(p, 5, 0.5);
    const answer = (await held)!;
    assert.equal(answer.cacheControl, BLOCKED_PLAYLIST);
    assert.match(answer.body.toString(), /URI="360p-i9-3\.2\.m4s"/);
    // Already there: at once. Without _HLS_part: until the segment is complete.
    assert.ok(await real.request('cam', '360p.m3u8', search('_HLS_msn=2')));
    const bad = (await real.request('cam', '360p.m3u8', search('_HLS_msn=9')))!;
    assert.equal(bad.status, 400);
    assert.equal((await real.request('cam', '360p.m3u8', search('_HLS_msn=x')))!.status, 400);
    const slow = new PackagedOutputs({ lowLatency: true }, Date.now, fakeTimeout);
    slow.set(p);
    assert.equal((await slow.request('cam', '360p.m3u8', search('_HLS_msn=4&_HLS_part=0')))!.status, 503);
    assert.equal(timeouts, 1);
  });

  test('the hinted part is held until it exists; any other missing part is 404 at once, cached a second', async () => {
    const outputs = new PackagedOutputs({ lowLatency: true });
    const p = packager();
    outputs.set(p);
    feed(p, 0, 4.5);
    const notHinted = (await outputs.request('cam', '360p-i9-3.3.m4s', request))!;
    assert.deepEqual([notHinted.status, notHinted.cacheControl], [404, NOT_YET], 'not the hint: 404, cached a second at most');
    const hinted = outputs.request('cam', '360p-i9-3.1.m4s', request);
    await new Promise((r) => setTimeout(r, 20));
    feed(p, 4.5, 0.5);
    const part = (await hinted)!;
    assert.equal(part.cacheControl, IMMUTABLE);
    assert.equal(part.body.length, 1000);
  });

  test('LL-DASH: the next segment, listed ahead, is not handed to a request of its period if a new run (the next period) begins it', async () => {
    const outputs = new PackagedOutputs({ lowLatency: true });
    const p = packager();
    outputs.set(p);
    feed(p, 0, 4); // segments 1-2 complete; 3 is due next
    const before = outputs.resource('cam', 'manifest.mpd', request)!.body.toString();
    assert.match(before, /<S t="0" d="180000" r="2"\/>/, 'segment 3 is listed ahead in period 0');
    const held = outputs.request('cam', '360p-i9-3.m4s', request);
    await new Promise((r) => setTimeout(r, 20));
    p.beginRun(); // the publisher came back: period 1
    p.init('360p', { bytes: Buffer.from('init2'), codecs: 'avc1.64001e', timescale: TS, width: 640, height: 360 });
    const between = outputs.resource('cam', 'manifest.mpd', request)!.body.toString();
    assert.match(between, /<S t="0" d="180000" r="1"\/>/, 'once the run is over, nothing is listed ahead of its last segment');
    p.fragment('360p', { bytes: Buffer.alloc(1000, 7), baseDecodeTime: 0, duration: TS / 2, independent: true }, 1_000_000 + 5000);
    const answer = (await held)!;
    assert.deepEqual([answer.status, answer.cacheControl], [404, 'no-store'], 'not the bytes of another period, and not cached');
    const fresh = (await outputs.request('cam', '360p-i9-3.m4s', request))!;
    assert.ok(fresh.chunks, 'asked for again (the MPD now lists it in period 1), it is served');
    p.end();
  });

  test('LL-DASH: the open segment grows part by part and equals the closed segment; the next is held; later ones are 404 for a second', async () => {
    const outputs = new PackagedOutputs({ lowLatency: true });
    const p = packager();
    outputs.set(p);
    feed(p, 0, 4.5); // segments 1-2 complete, 3 open with part 0
    const mpdText = outputs.resource('cam', 'manifest.mpd', request)!.body.toString();
    assert.match(mpdText, /availabilityTimeComplete="false"/);
    // Segments 1-2, the open 3 at its planned 2 s, and 4 ahead of its start (dash.js refreshes at most once a second).
    assert.match(mpdText, /<S t="0" d="180000" r="3"\/>/, 'the open segment at its planned 2 s, and the next one listed ahead');
    const open = (await outputs.request('cam', '360p-i9-3.m4s', request))!;
    assert.equal(open.cacheControl, IMMUTABLE);
    assert.ok(open.chunks, 'a growing body');
    const got: Buffer[] = [];
    const reading = (async () => { for await (const c of open.chunks!) got.push(c); })();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 1, 'the part there is sent at once');
    feed(p, 4.5, 0.5);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 2, 'a new part as it comes');
    const next = outputs.request('cam', '360p-i9-4.m4s', request);
    feed(p, 5, 1.5); // segment 3 closes at 6 s, segment 4 begins
    await reading;
    assert.deepEqual(Buffer.concat(got), p.resource('360p-i9-3.m4s'), 'the body is the closed segment');
    const nextAnswer = (await next)!;
    assert.ok(nextAnswer.chunks, 'the next segment was held until it began, then grows');
    const far = (await outputs.request('cam', '360p-i9-6.m4s', request))!;
    assert.deepEqual([far.status, far.cacheControl], [404, NOT_YET]);
    const closed = (await outputs.request('cam', '360p-i9-3.m4s', request))!;
    assert.equal(closed.chunks, undefined, 'once closed, a plain body with a length');
    p.end();
    const rest: Buffer[] = [];
    for await (const c of nextAnswer.chunks!) rest.push(c);
    assert.deepEqual(Buffer.concat(rest), p.resource('360p-i9-4.m4s'), 'the end closes it');
  });
});
