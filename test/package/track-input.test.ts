import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rebaseFragment } from '../../src/package/mp4/write.ts';
import { StreamPackager } from '../../src/package/stream-packager.ts';
import { TrackInput } from '../../src/package/track-input.ts';
import { FFMPEGS, makeCmaf, probe } from './mp4/support.ts';

/** Cuts `bytes` into chunks of 1 to 3000 bytes, as a pipe delivers them. */
function chunks(bytes: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  for (let at = 0; at < bytes.length; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 3000);
    out.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}

for (const ffmpeg of FFMPEGS) {
  describe(`TrackInput: ${ffmpeg.name}'s CMAF pipes into the packager`, () => {
    test('two runs of real fragments: segments cut on keyframes, the second run after a discontinuity, every segment playable with its init', async () => {
      const [video, audio] = await Promise.all([makeCmaf(ffmpeg.path, 'video', 6), makeCmaf(ffmpeg.path, 'audio', 6)]);
      const p = new StreamPackager('cam', [{ name: '240p', kind: 'video', bandwidth: 300_000, frameRate: 30 }, { name: 'audio', kind: 'audio', bandwidth: 96_000 }], {
        segmentSeconds: 2, partSeconds: 0.5, windowSegments: 10, extraSegments: 0, maxBytes: 64 << 20, instanceId: 'i1',
        rebaseFragment: (bytes, t, seq) => rebaseFragment(bytes, t, seq),
      });
      let now = 1_000_000;
      for (let run = 0; run < 2; run++) {
        const id = p.beginRun();
        const v = new TrackInput(p, '240p', id);
        const a = new TrackInput(p, 'audio', id);
        for (const c of chunks(video, run + 1)) v.push(c, (now += 5));
        for (const c of chunks(audio, run + 7)) a.push(c, (now += 5));
        now += 6000;
      }
      p.end();
      const snap = p.snapshot(now);
      const segments = snap.video[0]!.segments;
      const ts = snap.video[0]!.timescale;
      assert.equal(snap.video[0]!.codecs.startsWith('avc1.'), true);
      assert.equal(snap.video[0]!.width, 320);
      assert.equal(snap.audio!.codecs, 'mp4a.40.2');
      assert.deepEqual(segments.map((s) => [s.msn, s.discontinuity]), [[1, 0], [2, 0], [3, 0], [4, 1], [5, 1], [6, 1]]);
      // 4.2.1 gives the first frame the B-frame delay as extra duration: a segment may run 0.1 s long.
      for (const s of segments) assert.ok(Math.abs(s.duration / ts - 2) <= 0.15, `segment ${s.msn}: ${s.duration / ts} s`);
      const run2 = segments[3]!;
      assert.ok(run2.start >= segments[2]!.start + segments[2]!.duration, 'the second run starts after the first ends');
      assert.ok(segments.every((s) => s.parts[0]!.independent));
      // What a player does: init then the segment's bytes; ffprobe decodes them with the stream timeline's times.
      for (const s of [segments[0]!, run2]) {
        const bytes = Buffer.concat([p.resource(s.initUri)!, p.resource(s.uri)!]);
        const { packets } = await probe(bytes);
        assert.ok(packets.length >= 59 && packets.length <= 61, `${packets.length} frames in segment ${s.msn}`);
        assert.ok(Math.abs(packets[0]!.dts / ts - s.start / ts) < 0.1, `segment ${s.msn} decodes at ${packets[0]!.dts / ts} s, listed at ${s.start / ts} s`);
      }
      const audioSegments = snap.audio!.segments;
      assert.ok(audioSegments.length >= 5 && audioSegments.some((s) => s.discontinuity === 1));
      const { packets } = await probe(Buffer.concat([p.resource(audioSegments.at(-1)!.initUri)!, p.resource(audioSegments.at(-1)!.uri)!]));
      assert.ok(packets.length > 10);
    });
  });
}
