import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LADDER, planLadder } from '../../src/transcode/ladder.ts';
import { decidePassthrough, SourceMeter, type SourceMeasurement } from '../../src/transcode/passthrough-fit.ts';

const keys = (gopMs: number, n = 3) => Array.from({ length: n }, (_, i) => Math.round(i * gopMs));
const regular: SourceMeasurement = { keyframesMs: keys(2000), kbps: 4000, fps: 30 };

function decide(video: { codec?: string; profile?: number; width: number; height: number }, measured: Partial<SourceMeasurement> = {}, maxHeight = 1080) {
  const v = { codec: 'h264', profile: 100, ...video };
  return decidePassthrough({
    video: v,
    measured: { ...regular, ...measured },
    ladder: DEFAULT_LADDER,
    planned: planLadder(DEFAULT_LADDER, { width: v.width, height: v.height }, maxHeight),
    maxHeight,
    segmentSeconds: 2,
  });
}

describe('decidePassthrough: the fit rules, in order', () => {
  const table: { what: string; video: Parameters<typeof decide>[0]; measured?: Partial<SourceMeasurement>; maxHeight?: number; expect: string }[] = [
    { what: '1080p30 4 Mbps, 2 s GOP', video: { width: 1920, height: 1080 }, expect: 'on 1080p replaces 1080p' },
    { what: 'main profile 720p at 3300k (within 10%)', video: { profile: 77, width: 1280, height: 720 }, measured: { kbps: 3300 }, expect: 'on 720p replaces 720p' },
    { what: '1 s GOP divides the 2 s segment', video: { width: 1920, height: 1080 }, measured: { keyframesMs: keys(1000, 5) }, expect: 'on 1080p replaces 1080p' },
    { what: 'ms jitter within half a frame', video: { width: 1920, height: 1080 }, measured: { keyframesMs: [0, 2011, 3995] }, expect: 'on 1080p replaces 1080p' },
    { what: 'between 720p and 480p: the top rung at its own size, 720p budget', video: { width: 1000, height: 562 }, measured: { kbps: 2500 }, expect: 'on 562p replaces -' },
    { what: 'portrait 720x1280', video: { width: 720, height: 1280 }, measured: { kbps: 2500 }, expect: 'on 720p replaces 720p' },
    { what: 'HEVC', video: { codec: 'hevc', width: 1920, height: 1080 }, expect: 'off codec hevc is not H.264' },
    { what: 'High 10', video: { profile: 110, width: 1920, height: 1080 }, expect: 'off H.264 profile 110 is not baseline, main or high' },
    { what: '4K source above the top rung', video: { width: 3840, height: 2160 }, expect: 'off source 3840x2160 is larger than the top rung (1080p)' },
    { what: '1080p source with a 720p cap', video: { width: 1920, height: 1080 }, maxHeight: 720, expect: 'off source 1920x1080 is larger than the top rung (720p)' },
    { what: '60 fps source, 30 fps rung', video: { width: 1920, height: 1080 }, measured: { fps: 60 }, expect: "off frame rate 60.00 above the rung's 30" },
    { what: 'GOP 1.7 s', video: { width: 1920, height: 1080 }, measured: { keyframesMs: keys(1700, 4) }, expect: 'off GOP 1.7 s does not divide the 2 s segment' },
    { what: 'GOP 3 s (one keyframe in the window)', video: { width: 1920, height: 1080 }, measured: { keyframesMs: [0, 3000] }, expect: 'off GOP 3 s is longer than the 2 s segment' },
    { what: 'GOP 2.02 s drifts off the grid', video: { width: 1920, height: 1080 }, measured: { keyframesMs: keys(2020) }, expect: 'off GOP 2.02 s does not divide the 2 s segment' },
    { what: 'irregular keyframes', video: { width: 1920, height: 1080 }, measured: { keyframesMs: [0, 1500, 4000] }, expect: 'off keyframes irregular (GOPs 1.5 s to 2.5 s)' },
    { what: '7.9 Mbps over the 5000k budget', video: { width: 1920, height: 1080 }, measured: { kbps: 7900 }, expect: 'off bitrate 7.9 Mbps over the 5000k budget' },
  ];
  for (const row of table) {
    it(row.what, () => {
      const d = decide(row.video, row.measured, row.maxHeight);
      const got = d.fits ? `on ${d.rung.name} replaces ${d.replaces ?? '-'}` : `off ${d.reason}`;
      assert.equal(got, row.expect);
      if (d.fits) {
        assert.equal(d.rung.bitrateKbps, Math.round(row.measured?.kbps ?? regular.kbps), 'the profile carries the measured bitrate');
        assert.deepEqual([d.rung.width, d.rung.height], [row.video.width, row.video.height], 'the source size, never scaled');
      }
    });
  }
});

describe('SourceMeter: the first two GOPs', () => {
  const video = (timestamp: number, keyframe: boolean, bytes = 1000) => ({ typeId: 9, timestamp, payload: { length: bytes }, keyframe, config: false, frame: true });

  it('measures bitrate, fps and keyframes up to the keyframe that closes the window', () => {
    const m = new SourceMeter(2);
    const start = 4_294_960_000; // the 32-bit clock wraps inside the window
    let done = false;
    for (let i = 0; i <= 120 && !done; i++) done = m.push(video((start + Math.round((i * 1000) / 30)) >>> 0, i % 60 === 0));
    assert.equal(done, true);
    const r = m.measurement;
    assert.deepEqual(r.keyframesMs, [0, 2000, 4000]);
    assert.equal(Math.round(r.fps), 30);
    assert.equal(Math.round(r.kbps), 240); // 1000 bytes × 30 frames a second
  });

  it('ends after three segment durations when no keyframe closes it, and skips what comes before the first keyframe', () => {
    const m = new SourceMeter(2);
    assert.equal(m.push(video(0, false)), false);
    assert.equal(m.push({ ...video(0, false), typeId: 8 }), false);
    let done = false;
    for (let t = 100; t <= 7000 && !done; t += 100) done = m.push(video(t, t === 100));
    assert.equal(done, true);
    assert.deepEqual(m.measurement.keyframesMs, [0]);
    assert.equal(decidePassthrough({ video: { codec: 'h264', profile: 100, width: 640, height: 360 }, measured: m.measurement, ladder: DEFAULT_LADDER, planned: planLadder(DEFAULT_LADDER, { width: 640, height: 360 }, 1080), maxHeight: 1080, segmentSeconds: 2 }).fits, false);
  });
});
