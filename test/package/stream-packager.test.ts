import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StreamPackager, type PackagerOptions, type TrackSpec } from '../../src/package/stream-packager.ts';

const VIDEO_TS = 90_000;
const AUDIO_TS = 48_000;
const TRACKS: TrackSpec[] = [
  { name: '360p', kind: 'video', bandwidth: 800_000, frameRate: 30 },
  { name: 'audio', kind: 'audio', bandwidth: 128_000 },
];

/** A stand-in rebase: the bytes say which time and sequence they were given, so tests can see both. */
const rebaseFragment = (bytes: Buffer, t: number, seq: number) => Buffer.concat([bytes, Buffer.from(`@${t}#${seq}`)]);

function packager(options: Partial<PackagerOptions> = {}, tracks = TRACKS): StreamPackager {
  return new StreamPackager('cam', tracks, {
    segmentSeconds: 2,
    partSeconds: 0.5,
    windowSegments: 6,
    extraSegments: 2,
    maxBytes: 64 << 20,
    instanceId: 'abc123',
    rebaseFragment,
    ...options,
  });
}

const videoInit = { bytes: Buffer.from('vinit'), codecs: 'avc1.64001e', timescale: VIDEO_TS, width: 640, height: 360 };
const audioInit = { bytes: Buffer.from('ainit'), codecs: 'mp4a.40.2', timescale: AUDIO_TS, sampleRate: 48_000, channels: 2 };

/**
 * Feeds one run as ffmpeg would write it: video fragments of 0.5 s with a
 * keyframe every 2 s, audio fragments of 0.512 s (24 AAC frames), both from
 * the run's time 0; wall clock advancing with media time from `wallStart`.
 */
function feedRun(p: StreamPackager, seconds: number, wallStart: number, opts: { from?: number; audio?: boolean } = {}): number {
  p.beginRun();
  p.init('360p', videoInit);
  if (opts.audio !== false) p.init('audio', audioInit);
  const from = opts.from ?? 0;
  const events: { at: number; fn: () => void }[] = [];
  for (let t = 0; t < seconds; t += 0.5) {
    const start = Math.round((from + t) * VIDEO_TS);
    events.push({
      at: t + 0.5,
      fn: () => p.fragment('360p', { bytes: Buffer.from(`v${start}`), baseDecodeTime: start, duration: VIDEO_TS / 2, independent: t % 2 === 0 }, wallStart + (t + 0.65) * 1000),
    });
  }
  if (opts.audio !== false) {
    const frag = 24 * 1024;
    for (let n = 0; (n * frag) / AUDIO_TS < seconds; n++) {
      const start = Math.round(from * AUDIO_TS) + n * frag;
      const end = ((n + 1) * frag) / AUDIO_TS;
      events.push({
        at: end,
        fn: () => p.fragment('audio', { bytes: Buffer.from(`a${start}`), baseDecodeTime: start, duration: frag, independent: true }, wallStart + (end + 0.15) * 1000),
      });
    }
  }
  events.sort((a, b) => a.at - b.at);
  for (const e of events) e.fn();
  return wallStart + seconds * 1000;
}

describe('StreamPackager', () => {
  test('the open segment is announced at the duration it will close with (the grid line for video, whole 0.512 s fragments for audio), and the next one ahead where it will start and end', () => {
    const p = packager();
    p.beginRun();
    p.init('360p', videoInit);
    p.init('audio', audioInit);
    const frag = 24 * 1024;
    const events: { at: number; kind: 'video' | 'audio'; n: number }[] = [];
    for (let n = 0; n < 60; n++) events.push({ at: (n + 1) * 0.5, kind: 'video', n }, { at: ((n + 1) * frag) / AUDIO_TS, kind: 'audio', n });
    events.sort((a, b) => a.at - b.at);
    // What each open segment was announced to end at, by track and msn, after every fragment.
    const announced = new Map<string, Set<number | string>>();
    for (const e of events) {
      if (e.kind === 'video') {
        const start = e.n * (VIDEO_TS / 2);
        p.fragment('360p', { bytes: Buffer.from(`v${start}`), baseDecodeTime: start, duration: VIDEO_TS / 2, independent: e.n % 4 === 0 }, 1_000_000 + e.at * 1000);
      } else {
        const start = e.n * frag;
        p.fragment('audio', { bytes: Buffer.from(`a${start}`), baseDecodeTime: start, duration: frag, independent: true }, 1_000_000 + e.at * 1000);
      }
      const snap = p.snapshot(0);
      for (const r of [snap.video[0]!, snap.audio!]) {
        for (const s of r.segments) {
          if (s.complete || s.plannedDuration === undefined) continue;
          const key = `${r.name} ${s.msn}`;
          if (!announced.has(key)) announced.set(key, new Set());
          announced.get(key)!.add(s.start + s.plannedDuration);
        }
        // The segment due next, listed ahead by LL-DASH: where it will start and end.
        const next = r.upcoming;
        if (r.segments.length === 0) continue;
        assert.ok(next !== undefined, `${r.name}: the next segment is announced ahead`);
        assert.equal(next.uri, p.nextSegmentUri(r.name), 'under the URI a request for it is held');
        const key = `${r.name} ${next.msn} ahead`;
        if (!announced.has(key)) announced.set(key, new Set());
        announced.get(key)!.add(`${next.start}-${next.start + next.duration}`);
      }
    }
    const snap = p.snapshot(0);
    let checked = 0;
    let checkedAhead = 0;
    for (const r of [snap.video[0]!, snap.audio!]) {
      for (const s of r.segments.filter((x) => x.complete)) {
        const ends = announced.get(`${r.name} ${s.msn}`);
        if (ends === undefined) continue;
        checked++;
        assert.deepEqual([...ends], [s.start + s.duration], `${r.name} segment ${s.msn} was announced to end at ${[...ends].map((e) => Number(e) / r.timescale).join(', ')} s, closed at ${(s.start + s.duration) / r.timescale} s`);
        const ahead = announced.get(`${r.name} ${s.msn} ahead`);
        if (ahead === undefined) continue;
        checkedAhead++;
        assert.deepEqual([...ahead], [`${s.start}-${s.start + s.duration}`], `${r.name} segment ${s.msn} announced ahead as ${[...ahead].join(', ')}`);
      }
    }
    assert.ok(checked >= 10, `${checked} segments checked`);
    assert.ok(checkedAhead >= 10, `${checkedAhead} segments checked against what was announced ahead`);
    p.end();
    assert.equal(p.snapshot(0).video[0]!.upcoming, undefined, 'nothing is due once ended');
  });

  test('cuts 2 s segments of 0.5 s parts on the keyframe grid, numbered from 1, served by URI', () => {
    const p = packager();
    feedRun(p, 9, 1_000_000);
    const snap = p.snapshot(1_010_000);
    const video = snap.video[0]!;
    assert.deepEqual(video.segments.map((s) => [s.msn, s.start / VIDEO_TS, s.duration / VIDEO_TS, s.parts.length, s.complete]), [
      [1, 0, 2, 4, true], [2, 2, 2, 4, true], [3, 4, 2, 4, true], [4, 6, 2, 4, true], [5, 8, 1, 2, false],
    ]);
    assert.equal(video.segments[0]!.uri, '360p-abc123-1.m4s');
    assert.equal(video.segments[1]!.parts[2]!.uri, '360p-abc123-2.2.m4s');
    assert.deepEqual(video.segments[1]!.parts.map((x) => x.independent), [true, false, false, false]);
    assert.equal(video.segments[0]!.initUri, '360p-abc123-init0.mp4');
    assert.equal(p.resource('360p-abc123-init0.mp4')!.toString(), 'vinit');
    assert.equal(p.resource('360p-abc123-2.1.m4s')!.toString(), `v${2.5 * VIDEO_TS}@${2.5 * VIDEO_TS}#6`);
    assert.equal(p.resource('360p-abc123-2.m4s')!.toString(), video.segments[1]!.parts.map((x) => x.bytes.toString()).join(''));
    assert.equal(p.resource('360p-abc123-5.m4s'), undefined, 'an open segment is not served whole');
    assert.equal(p.resource('360p-abc123-5.1.m4s')!.toString().startsWith('v'), true, 'its parts are');
    assert.equal(p.resource('360p-other-1.m4s'), undefined, "another instance's URI");
    assert.equal(p.resource('360p-abc123-9.m4s'), undefined);
    // Audio on the same grid: segments start at the first fragment at or after each 2 s line, less a quarter second.
    assert.deepEqual(snap.audio!.segments.filter((s) => s.complete).map((s) => s.msn), [1, 2, 3, 4]);
    assert.equal(snap.availabilityStartTime, 1_000_000 + 150, 'AST: the first fragment (audio, 0.512 s) arrived at +0.662 s');
    assert.equal(p.playable, true);
    assert.equal(snap.video[0]!.codecs, 'avc1.64001e');
    assert.equal(snap.audio!.sampleRate, 48_000);
  });

  test('availabilityStartTime follows the earliest arrival until playable (the first fragments come late), then stays', () => {
    const p = packager({}, [TRACKS[0]!]);
    p.beginRun();
    p.init('360p', videoInit);
    const frag = (t: number, at: number) => p.fragment('360p', { bytes: Buffer.from('v'), baseDecodeTime: t * VIDEO_TS, duration: VIDEO_TS / 2, independent: t % 2 === 0 }, at);
    // ffmpeg probing: the first second arrives 1.2 s late, all at once; then 0.2 s after each part's end.
    frag(0, 2200);
    frag(0.5, 2210);
    frag(1, 2220);
    for (let t = 1.5; t < 4; t += 0.5) frag(t, (t + 0.5) * 1000 + 200);
    assert.equal(p.playable, true);
    const snap = p.snapshot(5000);
    assert.equal(snap.availabilityStartTime, 200);
    assert.deepEqual(snap.video[0]!.segments.map((s) => s.programDateTime), [200, 2200], 'program date-times follow');
    frag(4, 4100); // early, but after the first playlist could be served: no change
    assert.equal(p.snapshot(5000).availabilityStartTime, 200);
  });

  test('the master is not playable before every track has a complete segment', () => {
    const p = packager();
    feedRun(p, 1.5, 0);
    assert.equal(p.playable, false);
  });

  test('audio cut on the grid does not drift from video over a long run', () => {
    const p = packager({ windowSegments: 100, extraSegments: 0 });
    feedRun(p, 400, 0);
    const snap = p.snapshot(400_000);
    const v = snap.video[0]!.segments.filter((s) => s.complete);
    const a = snap.audio!.segments.filter((s) => s.complete);
    assert.equal(v.at(-1)!.msn, 200, 'the last segment closes as soon as it reaches the grid line');
    assert.ok(Math.abs(a.at(-1)!.msn - v.at(-1)!.msn) <= 1, `audio msn ${a.at(-1)!.msn} vs video ${v.at(-1)!.msn}`);
    for (const s of a) assert.ok(Math.abs(s.start / AUDIO_TS - (s.msn - 1) * 2) < 0.3, `audio segment ${s.msn} starts at ${s.start / AUDIO_TS}`);
  });

  test('a new run continues the timeline after a discontinuity: msn and time go on, new init, no URI reused', () => {
    const p = packager();
    const wall = feedRun(p, 5, 0);
    const before = p.snapshot(wall).video[0]!;
    // ffmpeg restarted: its clock starts again at 0, 1.2 s of wall time later.
    feedRun(p, 6, wall + 1200);
    const after = p.snapshot(wall + 8000).video[0]!;
    const first = after.segments.find((s) => s.discontinuity === 1)!;
    const last = before.segments.at(-1)!;
    assert.equal(last.complete, false, 'the segment open when the run ended…');
    assert.equal(after.segments.find((s) => s.msn === last.msn)!.complete, true, '…is closed as it was');
    assert.equal(first.msn, last.msn + 1);
    assert.equal(first.initUri, '360p-abc123-init1.mp4');
    assert.ok(first.start >= last.start + last.duration, 'no overlap');
    assert.ok(first.start / VIDEO_TS >= 5 + 1.2 - 0.01, `the wall-clock gap is kept: ${first.start / VIDEO_TS}`);
    assert.ok(first.programDateTime > last.programDateTime);
    assert.equal(p.figures().discontinuities, 1);
    const audio = p.snapshot(wall + 8000).audio!;
    const audioFirst = audio.segments.find((s) => s.discontinuity === 1)!;
    assert.ok(Math.abs(audioFirst.start / AUDIO_TS - first.start / VIDEO_TS) < 0.05, 'audio and video keep the run alignment');
  });

  test("a run that is no longer current (an ffmpeg still finishing after a quick reconnect) is ignored", () => {
    const p = packager({}, [TRACKS[0]!]);
    const first = p.beginRun();
    p.init('360p', videoInit, first);
    p.fragment('360p', { bytes: Buffer.from('a'), baseDecodeTime: 0, duration: VIDEO_TS, independent: true }, 0, first);
    const second = p.beginRun();
    assert.equal(second, first + 1);
    p.init('360p', { ...videoInit, bytes: Buffer.from('old') }, first);
    p.fragment('360p', { bytes: Buffer.from('late'), baseDecodeTime: VIDEO_TS, duration: VIDEO_TS, independent: true }, 0, first);
    assert.throws(() => p.fragment('360p', { bytes: Buffer.from('b'), baseDecodeTime: 0, duration: VIDEO_TS, independent: true }, 0, second), /before its init/);
    p.init('360p', videoInit, second);
    p.fragment('360p', { bytes: Buffer.from('b'), baseDecodeTime: 0, duration: VIDEO_TS, independent: true }, 5000, second);
    const segments = p.snapshot(5000).video[0]!.segments;
    assert.deepEqual(segments.map((s) => [s.msn, s.discontinuity, s.parts.map((x) => x.bytes.toString()[0]).join('')]), [[1, 0, 'a'], [2, 1, 'b']]);
  });

  test('a run that carries other tracks (a re-planned source) retires the old ones; a name that comes back continues its numbering', () => {
    const p = packager({}, []);
    const frag = (track: string, t: number, run: number) =>
      p.fragment(track, { bytes: Buffer.from(track), baseDecodeTime: t * VIDEO_TS, duration: 2 * VIDEO_TS, independent: true }, t * 1000, run);
    const first = p.beginRun([TRACKS[0]!]);
    p.init('360p', videoInit, first);
    frag('360p', 0, first);
    frag('360p', 2, first);
    assert.equal(p.playable, true);
    const second = p.beginRun([{ name: '240p', kind: 'video', bandwidth: 400_000, frameRate: 30 }]);
    assert.deepEqual(p.snapshot(4000).video.map((r) => r.name), [], 'the retired 360p is listed no more; 240p has nothing yet');
    assert.equal(p.playable, false, 'not playable until the new run has a segment');
    assert.equal(p.resource('360p-abc123-1.m4s'), undefined, 'nor served');
    p.init('240p', { ...videoInit, width: 320, height: 240 }, second);
    frag('240p', 0, second);
    frag('240p', 2, second);
    assert.deepEqual(p.snapshot(9000).video.map((r) => r.name), ['240p']);
    assert.equal(p.playable, true);
    const third = p.beginRun([TRACKS[0]!]);
    p.init('360p', videoInit, third);
    frag('360p', 0, third);
    const back = p.snapshot(12_000).video[0]!;
    assert.deepEqual([back.name, back.segments[0]!.msn, back.segments[0]!.discontinuity], ['360p', 3, 2], 'numbering goes on: no URI is reused');
  });

  test('an encoder clock that goes back within a run keeps the timeline monotonic', () => {
    const p = packager();
    p.beginRun();
    p.init('360p', videoInit);
    const frag = (t: number, key: boolean) => p.fragment('360p', { bytes: Buffer.from('x'), baseDecodeTime: t * VIDEO_TS, duration: VIDEO_TS / 2, independent: key }, 0);
    frag(0, true);
    frag(0.5, false);
    frag(0.2, false); // back
    frag(0.7, false);
    const parts = p.snapshot(0).video[0]!.segments.flatMap((s) => s.parts);
    for (let i = 1; i < parts.length; i++) assert.ok(parts[i]!.start >= parts[i - 1]!.start + parts[i - 1]!.duration, `part ${i}`);
  });

  test('a video segment starts with a sync sample: leading non-sync fragments of a run are dropped', () => {
    const p = packager();
    p.beginRun();
    p.init('360p', videoInit);
    p.fragment('360p', { bytes: Buffer.from('x'), baseDecodeTime: 0, duration: 100, independent: false }, 0);
    assert.equal(p.snapshot(0).video[0]!.segments.length, 0);
    p.fragment('360p', { bytes: Buffer.from('x'), baseDecodeTime: 100, duration: 100, independent: true }, 0);
    assert.equal(p.snapshot(0).video[0]!.segments[0]!.parts[0]!.independent, true);
  });

  test('the window lists the last N complete segments; N + extra are kept; the byte bound drops the oldest', () => {
    const p = packager({ windowSegments: 3, extraSegments: 2 });
    feedRun(p, 30, 0, { audio: false });
    const v = p.snapshot(30_000).video[0]!;
    assert.deepEqual(v.segments.map((s) => s.msn), [13, 14, 15]);
    assert.ok(p.resource('360p-abc123-11.m4s'), 'kept past the window');
    assert.equal(p.resource('360p-abc123-10.m4s'), undefined, 'gone past window + extra');

    const small = packager({ maxBytes: 200 });
    feedRun(small, 30, 0, { audio: false });
    assert.ok(small.figures().bytes <= 200 || small.figures().segments <= 2, JSON.stringify(small.figures()));
    assert.ok(small.figures().droppedForMemory > 0);
  });

  test('bandwidth: the larger of the budget and the measured peak; average over the listed complete segments', () => {
    const p = packager({}, [{ name: '360p', kind: 'video', bandwidth: 100, frameRate: 30 }]);
    p.beginRun();
    p.init('360p', videoInit);
    for (let i = 0; i < 12; i++) {
      const size = i < 4 ? 1000 : 3000; // 4 parts of 1000 B in segment 1, then 3000 B parts
      p.fragment('360p', { bytes: Buffer.alloc(size), baseDecodeTime: i * VIDEO_TS / 2, duration: VIDEO_TS / 2, independent: i % 4 === 0 }, 0);
    }
    const v = p.snapshot(0).video[0]!;
    const rebased = (n: number) => n + Buffer.from(rebaseFragment(Buffer.alloc(0), 0, 1)).length; // the stand-in adds a few bytes
    assert.ok(v.bandwidth >= (4 * 3000 * 8) / 2, `peak ${v.bandwidth}`);
    assert.ok(v.averageBandwidth! > (4 * rebased(1000) * 8) / 2 && v.averageBandwidth! < v.bandwidth);
  });

  test('end(): open segments close, the stream is ended, later fragments are ignored, listeners hear it', () => {
    const p = packager();
    let changes = 0;
    const off = p.onChange(() => changes++);
    feedRun(p, 3, 0);
    const seen = changes;
    assert.ok(seen > 0);
    p.end();
    assert.equal(changes, seen + 1);
    off();
    const snap = p.snapshot(0);
    assert.equal(snap.ended, true);
    assert.ok(snap.video[0]!.segments.every((s) => s.complete));
    p.fragment('360p', { bytes: Buffer.from('late'), baseDecodeTime: 9 * VIDEO_TS, duration: 100, independent: true }, 0);
    assert.equal(p.snapshot(0).video[0]!.segments.length, snap.video[0]!.segments.length);
    assert.throws(() => p.beginRun(), /has ended/);
  });

  test('property: across random runs, gaps and clocks, msn never goes down, time never overlaps, and a URI always has one body', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ seconds: fc.integer({ min: 1, max: 12 }), gapMs: fc.integer({ min: 0, max: 8000 }), from: fc.integer({ min: 0, max: 1000 }) }), { minLength: 1, maxLength: 6 }),
        (runs) => {
          const p = packager({ windowSegments: 4, extraSegments: 1 });
          const served = new Map<string, string>();
          let wall = 0;
          let firstMsn = 1;
          const starts = new Map<number, number>();
          for (const run of runs) {
            wall = feedRun(p, run.seconds, wall + run.gapMs, { from: run.from });
            const v = p.snapshot(wall).video[0];
            if (v === undefined) continue;
            for (const s of v.segments) {
              for (const uri of [s.uri, ...s.parts.map((x) => x.uri)]) {
                const body = p.resource(uri)?.toString();
                if (body === undefined) continue;
                const before = served.get(uri);
                if (before !== undefined) assert.equal(body, before, uri);
                served.set(uri, body);
              }
            }
            const msns = v.segments.map((s) => s.msn);
            assert.ok(msns.every((m, i) => i === 0 || m === msns[i - 1]! + 1), 'consecutive');
            assert.ok(msns[0]! >= firstMsn, 'the media sequence never goes down');
            firstMsn = msns[0]!;
            for (const s of v.segments) {
              const known = starts.get(s.msn);
              if (known !== undefined) assert.equal(s.start, known, `segment ${s.msn} keeps its start`);
              starts.set(s.msn, s.start);
            }
            for (let i = 1; i < v.segments.length; i++) {
              assert.ok(v.segments[i]!.start >= v.segments[i - 1]!.start + v.segments[i - 1]!.duration, 'segments never overlap');
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
