import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import HLS from 'hls-parser';
import { ENDED_PLAYLIST, IMMUTABLE, LIVE_PLAYLIST, PackagedOutputs } from '../../src/package/outputs.ts';
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
    const outputs = new PackagedOutputs(() => now);
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
});
