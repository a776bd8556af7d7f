import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProgressParser } from '../../src/transcode/progress.ts';

// A block as ffmpeg 5.1 writes it with -progress (multi-output: one stream_N_M_q line per encoder).
const BLOCK = `frame=301
fps=29.97
stream_0_0_q=23.0
stream_0_1_q=25.0
bitrate=1234.5kbits/s
total_size=1548300
out_time_us=10033333
out_time_ms=10033333
out_time=00:00:10.033333
dup_frames=2
drop_frames=1
speed=1.49x
progress=continue
`;

describe('ffmpeg -progress parser', () => {
  test('parses a whole block', () => {
    const [p] = new ProgressParser().push(BLOCK);
    assert.deepEqual(p, {
      frame: 301,
      fps: 29.97,
      bitrateKbps: 1234.5,
      totalSize: 1548300,
      outTimeSeconds: 10.033333,
      dupFrames: 2,
      dropFrames: 1,
      speed: 1.49,
      progress: 'continue',
    });
  });

  test('the same text split at every character gives the same blocks', () => {
    const text = BLOCK + BLOCK.replace('continue', 'end');
    const whole = new ProgressParser().push(text);
    assert.equal(whole.length, 2);
    for (let cut = 1; cut < text.length; cut++) {
      const p = new ProgressParser();
      assert.deepEqual([...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))], whole);
    }
  });

  test('N/A values fall back to zero', () => {
    const [p] = new ProgressParser().push('bitrate=N/A\nspeed=N/A\nout_time_us=N/A\nprogress=continue\n');
    assert.equal(p!.bitrateKbps, 0);
    assert.equal(p!.speed, 0);
    assert.equal(p!.outTimeSeconds, 0);
  });

  test('garbage and overlong lines are ignored', () => {
    const p = new ProgressParser();
    assert.deepEqual(p.push(`${'x'.repeat(5000)}\n=bad\nnoequals\n`), []);
    assert.equal(p.push('frame=3\nprogress=end\n')[0]!.frame, 3);
  });
});
