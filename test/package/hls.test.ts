import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { masterPlaylist, mediaPlaylist, playlistEnd, targetDuration } from '../../src/package/hls.ts';
import { rendition, run, snapshot, windowArbitrary, windowOf } from './snapshot-builder.ts';

const lines = (...l: string[]) => `${l.join('\n')}\n`;

const v720 = () => rendition({
  name: '720p', segments: run(3), bandwidth: 3_000_000, averageBandwidth: 2_500_000,
  width: 1280, height: 720, frameRate: 30, codecs: 'avc1.64001f',
});
const v360 = () => rendition({
  name: '360p', segments: run(3), bandwidth: 800_000, width: 640, height: 360, frameRate: 30000 / 1001, codecs: 'avc1.64001e',
});
const audio = () => rendition({ name: 'audio', segments: run(3), bandwidth: 128_000, averageBandwidth: 120_000, channels: 2, sampleRate: 48_000 });

describe('masterPlaylist (RFC 8216 4.3.4)', () => {
  it('audio group and one variant per video rendition, highest first, bandwidths summed', () => {
    assert.equal(masterPlaylist(snapshot({ video: [v360(), v720()], audio: audio() })), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=3128000,AVERAGE-BANDWIDTH=2620000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000,AUDIO="audio"',
      '720p.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=928000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=29.970,AUDIO="audio"',
      '360p.m3u8',
    ));
  });

  it('audio only: the audio playlist is the one variant, CODECS mp4a only, no EXT-X-MEDIA', () => {
    assert.equal(masterPlaylist(snapshot({ audio: audio() })), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-STREAM-INF:BANDWIDTH=128000,AVERAGE-BANDWIDTH=120000,CODECS="mp4a.40.2"',
      'audio.m3u8',
    ));
  });

  it('video only: no EXT-X-MEDIA, no AUDIO, CODECS video only', () => {
    assert.equal(masterPlaylist(snapshot({ video: [v720()] })), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f",FRAME-RATE=30.000',
      '720p.m3u8',
    ));
  });

  it('AVERAGE-BANDWIDTH only once both averages are known', () => {
    const noAverage = rendition({ name: 'audio', segments: run(1) });
    assert.doesNotMatch(masterPlaylist(snapshot({ video: [v720()], audio: noAverage })), /AVERAGE-BANDWIDTH/);
  });

  it('the query on every URI, and a custom playlist URI', () => {
    const text = masterPlaylist(snapshot({ video: [v720()], audio: audio() }), {
      query: 'exp=1700000000&sig=ab"c',
      playlistUri: (r) => `${r.name}/index.m3u8`,
    });
    assert.match(text, /URI="audio\/index\.m3u8\?exp=1700000000&sig=ab%22c"/);
    assert.match(text, /\n720p\/index\.m3u8\?exp=1700000000&sig=ab%22c\n/);
  });

  it('a stream with no rendition is refused', () => {
    assert.throws(() => masterPlaylist(snapshot({})), TypeError);
  });
});

describe('mediaPlaylist (RFC 8216 4.3.3, 4.3.2)', () => {
  it('complete segments only; MAP and PDT (ms, UTC) on the first', () => {
    const r = rendition({ name: '720p', firstMsn: 5, segments: [...run(2), { seconds: 1.9 }, { parts: [0.5], complete: false }] });
    assert.equal(mediaPlaylist(snapshot({ video: [r] }), r), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:5',
      '#EXT-X-DISCONTINUITY-SEQUENCE:0',
      '#EXT-X-MAP:URI="i0/720p/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:08.123Z',
      '#EXTINF:2.00000,',
      'i0/720p/5.m4s',
      '#EXTINF:2.00000,',
      'i0/720p/6.m4s',
      '#EXTINF:1.90000,',
      'i0/720p/7.m4s',
    ));
  });

  it('ENDLIST once ended', () => {
    const r = rendition({ name: 'audio', segments: [{ seconds: 2.005333 }] });
    assert.equal(mediaPlaylist(snapshot({ audio: r, ended: true }), r), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:1',
      '#EXT-X-DISCONTINUITY-SEQUENCE:0',
      '#EXT-X-MAP:URI="i0/audio/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:00.123Z',
      '#EXTINF:2.00533,',
      'i0/audio/1.m4s',
      '#EXT-X-ENDLIST',
    ));
  });

  it('DISCONTINUITY, MAP and PDT after a discontinuity; MAP again when only the init changes', () => {
    const r = rendition({
      name: '720p', firstMsn: 10, segments: [
        { seconds: 2, discontinuity: 3 },
        { seconds: 2, discontinuity: 3, initUri: 'i3/720p/init-b.mp4' },
        { seconds: 2, discontinuity: 4, start: 30, initUri: 'i3/720p/init-b.mp4' },
        { seconds: 2, discontinuity: 4, initUri: 'i3/720p/init-b.mp4' },
        { seconds: 2, discontinuity: 5 },
      ],
    });
    assert.equal(mediaPlaylist(snapshot({ video: [r] }), r), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:10',
      '#EXT-X-DISCONTINUITY-SEQUENCE:3',
      '#EXT-X-MAP:URI="i3/720p/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:18.123Z',
      '#EXTINF:2.00000,',
      'i3/720p/10.m4s',
      '#EXT-X-MAP:URI="i3/720p/init-b.mp4"',
      '#EXTINF:2.00000,',
      'i3/720p/11.m4s',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-MAP:URI="i3/720p/init-b.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:30.123Z',
      '#EXTINF:2.00000,',
      'i4/720p/12.m4s',
      '#EXTINF:2.00000,',
      'i4/720p/13.m4s',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-MAP:URI="i5/720p/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:34.123Z',
      '#EXTINF:2.00000,',
      'i5/720p/14.m4s',
    ));
  });

  it('the query on every URI', () => {
    const r = rendition({ name: '720p', segments: run(1) });
    const text = mediaPlaylist(snapshot({ video: [r] }), r, { query: 'token=a b' });
    assert.match(text, /#EXT-X-MAP:URI="i0\/720p\/init\.mp4\?token=a%20b"/);
    assert.match(text, /\ni0\/720p\/1\.m4s\?token=a%20b\n/);
  });

  it('an empty rendition still makes a valid header', () => {
    const r = rendition({ name: '720p', segments: [] });
    assert.equal(mediaPlaylist(snapshot({ video: [r] }), r), lines(
      '#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:1', '#EXT-X-DISCONTINUITY-SEQUENCE:0',
    ));
  });
});

describe('targetDuration (RFC 8216 4.3.3.1)', () => {
  const td = (segmentSeconds: number, ...seconds: number[]) => {
    const r = rendition({ name: '720p', segments: seconds.map((s) => ({ seconds: s })) });
    return targetDuration(snapshot({ segmentSeconds, video: [r] }), r);
  };

  it('never below the nominal duration rounded up', () => {
    assert.equal(td(2), 2);
    assert.equal(td(2, 1.2, 0.5), 2);
    assert.equal(td(1.5, 1.5), 2);
    assert.equal(td(6, 2), 6);
  });

  it('jitter around the nominal duration does not move it (nearest-integer rule)', () => {
    assert.equal(td(2, 2.005333, 1.994667, 2.4), 2);
  });

  it('a segment half a second or more over raises it', () => {
    assert.equal(td(2, 2, 2.5), 3);
    assert.equal(td(2, 4.2), 4);
  });

  it('the open segment does not count, so its growth cannot move it', () => {
    const r = rendition({ name: '720p', segments: [{ seconds: 2 }, { parts: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], complete: false }] });
    assert.equal(targetDuration(snapshot({ video: [r] }), r), 2);
  });
});

describe('Low-Latency HLS (RFC 8216bis 4.4.3.7, 4.4.3.8, 4.4.4.9, 4.4.5.2, 4.4.5.3)', () => {
  const ll = () => {
    const v = rendition({ name: '720p', segments: run(4, { openParts: 2 }) });
    const other = rendition({ name: '360p', segments: run(4, { openParts: 1 }) });
    const a = rendition({ name: 'audio', segments: run(5) });
    return { v, s: snapshot({ video: [v, other], audio: a }) };
  };

  it('parts of the segments starting within three target durations, the open one, hint, reports', () => {
    const { v, s } = ll();
    assert.equal(mediaPlaylist(s, v, { lowLatency: true, nextPartUri: 'i0/720p/5.2.m4s' }), lines(
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-MEDIA-SEQUENCE:1',
      '#EXT-X-DISCONTINUITY-SEQUENCE:0',
      '#EXT-X-MAP:URI="i0/720p/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:00:00.123Z',
      '#EXTINF:2.00000,',
      'i0/720p/1.m4s',
      '#EXTINF:2.00000,',
      'i0/720p/2.m4s',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/3.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/3.1.m4s"',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/3.2.m4s"',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/3.3.m4s"',
      '#EXTINF:2.00000,',
      'i0/720p/3.m4s',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/4.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/4.1.m4s"',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/4.2.m4s"',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/4.3.m4s"',
      '#EXTINF:2.00000,',
      'i0/720p/4.m4s',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/5.0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.50000,URI="i0/720p/5.1.m4s"',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="i0/720p/5.2.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="360p.m3u8",LAST-MSN=5,LAST-PART=0',
      '#EXT-X-RENDITION-REPORT:URI="audio.m3u8",LAST-MSN=5,LAST-PART=3',
    ));
  });

  it('the plain playlist of the same snapshot has no LL tag and no open segment', () => {
    const { v, s } = ll();
    const text = mediaPlaylist(s, v, { nextPartUri: 'i0/720p/5.2.m4s', skip: true });
    assert.doesNotMatch(text, /PART|SERVER-CONTROL|PRELOAD|RENDITION-REPORT|SKIP|5\.m4s/);
    assert.equal(text.match(/#EXTINF/g)?.length, 4);
  });

  it('the query on part, hint and report URIs too', () => {
    const { v, s } = ll();
    const text = mediaPlaylist(s, v, { lowLatency: true, nextPartUri: 'i0/720p/5.2.m4s', query: 't=1' });
    for (const line of text.split('\n').filter((l) => l.includes('URI='))) assert.match(line, /URI="[^"]+\?t=1"/, line);
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) assert.match(line, /\?t=1$/);
  });

  it('once ended: no hint, no open segment, ENDLIST', () => {
    const { v, s } = ll();
    const text = mediaPlaylist({ ...s, ended: true }, v, { lowLatency: true, nextPartUri: 'i0/720p/5.2.m4s' });
    assert.doesNotMatch(text, /PRELOAD-HINT|5\.0\.m4s/);
    assert.match(text, /#EXT-X-ENDLIST\n$/);
  });

  it('PART-TARGET covers a part longer than nominal, PART-HOLD-BACK three of them', () => {
    const v = rendition({ name: '720p', segments: [{ parts: [0.5005, 0.5005, 0.5005, 0.5005] }] });
    const text = mediaPlaylist(snapshot({ video: [v] }), v, { lowLatency: true });
    assert.match(text, /PART-HOLD-BACK=1\.5015,/);
    assert.match(text, /PART-TARGET=0\.5005\n/);
  });

  it('delta update: EXT-X-SKIP replaces what ends CAN-SKIP-UNTIL before the end; version 9', () => {
    const v = rendition({
      name: '720p', segments: [
        ...run(3), { seconds: 2, discontinuity: 1, start: 100 }, ...run(1, { discontinuity: 1 }),
        { seconds: 2, discontinuity: 1, initUri: 'i1/720p/init-b.mp4' }, ...run(6, { discontinuity: 1, openParts: 2 })],
    });
    const s = snapshot({ video: [v] });
    // msn 7 starts at 106 s; the end is 106 + 6 × 2 + 1 = 119 s; CAN-SKIP-UNTIL 12 s: what ends by 107 s goes (msn 1–6).
    const text = mediaPlaylist(s, v, { lowLatency: true, skip: true, nextPartUri: 'x' });
    const head = text.split('\n').slice(0, 15);
    assert.deepEqual(head, [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-MEDIA-SEQUENCE:1',
      '#EXT-X-DISCONTINUITY-SEQUENCE:0',
      '#EXT-X-SKIP:SKIPPED-SEGMENTS=6',
      '#EXT-X-MAP:URI="i1/720p/init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T12:01:46.123Z',
      '#EXTINF:2.00000,',
      'i1/720p/7.m4s',
      '#EXTINF:2.00000,',
      'i1/720p/8.m4s',
      '#EXTINF:2.00000,',
    ]);
    const full = mediaPlaylist(s, v, { lowLatency: true, nextPartUri: 'x' });
    assert.equal(full.match(/#EXTINF/g)?.length, 12);
    assert.equal(text.match(/#EXTINF/g)?.length, 6);
    const from = (t: string) => t.slice(t.indexOf('\ni1/720p/7.m4s\n'));
    assert.equal(from(text), from(full));
  });

  it('a discontinuity right after the skipped segments is kept', () => {
    const v = rendition({ name: '720p', segments: [...run(8), ...run(6, { discontinuity: 1 })] });
    const text = mediaPlaylist(snapshot({ video: [v] }), v, { lowLatency: true, skip: true });
    assert.match(text, /#EXT-X-SKIP:SKIPPED-SEGMENTS=8\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="i1\/720p\/init\.mp4"\n#EXT-X-PROGRAM-DATE-TIME:/);
  });

  it('nothing to skip: a full playlist at version 7', () => {
    const { v, s } = ll();
    const text = mediaPlaylist(s, v, { lowLatency: true, skip: true, nextPartUri: 'x' });
    assert.doesNotMatch(text, /SKIP:/);
    assert.match(text, /#EXT-X-VERSION:7\n/);
  });
});

describe('playlistEnd (RFC 8216bis 6.2.5.2)', () => {
  it('the last part of the open segment', () => {
    assert.deepEqual(playlistEnd(rendition({ name: 'v', firstMsn: 7, segments: run(2, { openParts: 3 }) })), { msn: 9, part: 2 });
  });
  it('an open segment with no part yet: the last part of the one before', () => {
    assert.deepEqual(playlistEnd(rendition({ name: 'v', firstMsn: 7, segments: run(2, { openParts: 0 }) })), { msn: 8, part: 3 });
  });
  it('all complete: the last part of the last segment', () => {
    assert.deepEqual(playlistEnd(rendition({ name: 'v', segments: [{ parts: [0.5, 0.3] }] })), { msn: 1, part: 1 });
  });
  it('no part at all: undefined', () => {
    assert.equal(playlistEnd(rendition({ name: 'v', segments: [] })), undefined);
    assert.equal(playlistEnd(rendition({ name: 'v', segments: run(0, { openParts: 0 }) })), undefined);
  });
});

describe('mediaPlaylist on random windows (fast-check)', () => {
  it('MEDIA-SEQUENCE is the first msn, one EXTINF per complete segment, each within the target duration', () => {
    fc.assert(fc.property(windowArbitrary, fc.boolean(), (w, lowLatency) => {
      const { r, s } = windowOf(w);
      const text = mediaPlaylist(s, r, { lowLatency });
      assert.match(text, new RegExp(`#EXT-X-MEDIA-SEQUENCE:${r.segments.length > 0 ? w.firstMsn : 1}\n`));
      const complete = r.segments.filter((x) => x.complete);
      const extinf = [...text.matchAll(/#EXTINF:([0-9.]+),\n(.*)\n/g)];
      assert.equal(extinf.length, complete.length);
      assert.deepEqual(extinf.map((m) => m[2]), complete.map((x) => x.uri));
      const td = Number(/#EXT-X-TARGETDURATION:(\d+)\n/.exec(text)?.[1]);
      assert.ok(td >= Math.ceil(w.segmentSeconds));
      for (const m of extinf) assert.ok(Math.round(Number(m[1])) <= td);
      const discontinuities = complete.filter((x, i) => i > 0 && x.discontinuity !== complete[i - 1]!.discontinuity).length;
      assert.equal(text.match(/#EXT-X-DISCONTINUITY\n/g)?.length ?? 0, discontinuities + (lowLatency && !w.ended && (w.openParts ?? 0) > 0 && complete.length > 0 && r.segments.at(-1)!.discontinuity !== complete.at(-1)!.discontinuity ? 1 : 0));
      assert.equal(text.endsWith('#EXT-X-ENDLIST\n'), w.ended);
    }));
  });

  it('the target duration only ever grows as the window slides', () => {
    fc.assert(fc.property(windowArbitrary, (w) => {
      const { r, s } = windowOf(w);
      // The same stream seen with its newest k segments only: a window that slides cannot lower it below the nominal.
      for (let k = 0; k <= r.segments.length; k++) {
        const part = { ...r, segments: r.segments.slice(k) };
        assert.ok(targetDuration(s, part) >= Math.ceil(w.segmentSeconds));
        assert.ok(targetDuration(s, part) <= targetDuration(s, r));
      }
    }));
  });

  it('LL: parts only for segments starting within three target durations of the end; a skip keeps the rest intact', () => {
    fc.assert(fc.property(windowArbitrary, (w) => {
      const { r, s } = windowOf({ ...w, ended: false });
      const full = mediaPlaylist(s, r, { lowLatency: true, nextPartUri: 'next.m4s' });
      const delta = mediaPlaylist(s, r, { lowLatency: true, skip: true, nextPartUri: 'next.m4s' });
      const td = targetDuration(s, r);
      const listed = r.segments.filter((x) => x.complete || x.parts.length > 0);
      const tail = listed.at(-1);
      const end = tail === undefined ? 0 : tail.start + tail.duration;
      for (const x of listed) {
        const hasParts = full.includes(`URI="${x.parts[0]?.uri}"`);
        assert.equal(hasParts, x.parts.length > 0 && end - x.start <= 3 * td * r.timescale, `msn ${x.msn}`);
      }
      const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)\n/.exec(delta)?.[1] ?? 0);
      assert.equal(skipped + (delta.match(/#EXTINF/g)?.length ?? 0), full.match(/#EXTINF/g)?.length ?? 0);
      for (const x of r.segments.slice(0, skipped)) assert.ok(end - (x.start + x.duration) >= 6 * td * r.timescale);
      const kept = r.segments[skipped];
      if (kept?.complete) assert.ok(end - (kept.start + kept.duration) < 6 * td * r.timescale);
      // From the first kept segment's URI on, the delta is the full playlist's text.
      if (skipped > 0 && kept?.complete === true) {
        const from = (t: string) => t.slice(t.indexOf(`\n${kept.uri}\n`));
        assert.equal(from(delta), from(full));
      }
    }));
  });
});
