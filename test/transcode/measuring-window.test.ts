/**
 * MeasuringWindow, pure: fed media messages, it holds them until its meter is
 * done (the cap window: the next keyframe or CAP_WINDOW_MS; the
 * passthrough window: 2 GOPs), then gives them back in order with what was
 * measured, or, cut short by its hold limit or the caller, with nothing measured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { MediaMessage } from '../../src/media/media-message.ts';
import { MeasuringWindow } from '../../src/transcode/measuring-window.ts';
import { CAP_WINDOW_MS } from '../../src/transcode/passthrough-fit.ts';

const video = (timestamp: number, keyframe: boolean, bytes = 1000): MediaMessage =>
  ({ type: 'media', typeId: 9, timestamp, payload: Buffer.alloc(bytes, keyframe ? 1 : 2), keyframe, config: false, frame: true, info: undefined }) as MediaMessage;
const audio = (timestamp: number, bytes = 100): MediaMessage =>
  ({ type: 'media', typeId: 8, timestamp, payload: Buffer.alloc(bytes, 3), keyframe: false, config: false, frame: true, info: undefined }) as MediaMessage;

/** Pushes messages until the window closes; returns the close and how many messages it took. */
function feed(w: MeasuringWindow, messages: MediaMessage[]) {
  for (let i = 0; i < messages.length; i++) {
    const closed = w.push(messages[i]!);
    if (closed !== undefined) return { closed, at: i };
  }
  return undefined;
}

describe('MeasuringWindow', () => {
  test('cap window: held from the first keyframe to the next one; the bitrate is measured over that GOP', () => {
    const w = new MeasuringWindow('cap', 2, 1 << 20);
    // 30 fps, a 1 s GOP: a 3000-byte keyframe, 29 frames of 1000 bytes, audio between.
    const messages: MediaMessage[] = [];
    for (let i = 0; i <= 30; i++) {
      const t = 5000 + Math.round((i * 1000) / 30);
      messages.push(video(t, i % 30 === 0, i % 30 === 0 ? 3000 : 1000), audio(t + 5));
    }
    const r = feed(w, messages)!;
    assert.equal(r.at, 60, 'the keyframe at 1 s closes it');
    assert.equal(r.closed.cut, undefined);
    assert.equal(r.closed.held.length, 60);
    assert.deepEqual(r.closed.held.map((m) => m.timestamp), messages.slice(0, 60).map((m) => m.timestamp));
    // (3000 + 29 × 1000) bytes × 8 over 1000 ms: 256 kbps (audio is not counted).
    assert.equal(Math.round(r.closed.measurement!.kbps), 256);
    assert.equal(Math.round(r.closed.measurement!.fps), 30);
  });

  test('cap window over a longer GOP: closed CAP_WINDOW_MS in, over-estimating (the keyframe counts)', () => {
    const w = new MeasuringWindow('cap', 2, 1 << 20);
    const messages = Array.from({ length: 301 }, (_, i) => video(Math.round((i * 1000) / 30), i === 0, i === 0 ? 30_000 : 1000));
    const r = feed(w, messages)!;
    assert.equal(CAP_WINDOW_MS, 1000);
    assert.equal(messages[r.at]!.timestamp, 1000);
    assert.equal(r.closed.held.length, 30);
    const steady = (1000 * 8 * 30) / 1000; // 240 kbps without the keyframe
    assert.ok(r.closed.measurement!.kbps > steady, `${r.closed.measurement!.kbps} kbps`);
  });

  test('passthrough window: two GOPs, keyframes kept for the decision', () => {
    const w = new MeasuringWindow('passthrough', 2, 1 << 20);
    const messages = Array.from({ length: 200 }, (_, i) => video(Math.round((i * 1000) / 30), i % 60 === 0));
    const r = feed(w, messages)!;
    assert.equal(r.at, 120);
    assert.deepEqual(r.closed.measurement!.keyframesMs, [0, 2000, 4000]);
  });

  test('the hold limit cuts it: nothing measured, the message over the limit not held', () => {
    const w = new MeasuringWindow('cap', 2, 2500);
    const r = feed(w, [video(0, true), video(33, false), video(66, false), video(100, true)])!;
    assert.equal(r.at, 2);
    assert.equal(r.closed.cut, 'over 2500 bytes in the measuring window');
    assert.equal(r.closed.measurement, undefined);
    assert.equal(r.closed.held.length, 2);
  });

  test('cut by the caller (the stream ended): what it held, nothing measured; a closed window takes nothing more', () => {
    const w = new MeasuringWindow('cap', 2, 1 << 20);
    w.push(video(0, true));
    w.push(audio(10));
    assert.equal(w.heldCount, 2);
    const closed = w.cut('the stream ended within the measuring window');
    assert.deepEqual([closed.held.length, closed.measurement, closed.cut], [2, undefined, 'the stream ended within the measuring window']);
    assert.throws(() => w.push(video(33, false)), /closed/);
    assert.throws(() => w.cut('again'), /closed/);
  });

  test('held messages own their payloads (the socket buffer they came in is reused)', () => {
    const w = new MeasuringWindow('cap', 2, 1 << 20);
    const m = video(0, true, 10);
    w.push(m);
    m.payload.fill(9);
    assert.deepEqual([...w.cut('x').held[0]!.payload], Array(10).fill(1));
  });

  test('property: nothing lost or reordered; closes at the next keyframe or CAP_WINDOW_MS in; measures the bytes before it', () => {
    const step = fc.record({ gap: fc.integer({ min: 0, max: 400 }), kind: fc.constantFrom('key', 'frame', 'frame', 'frame', 'audio'), bytes: fc.integer({ min: 1, max: 5000 }) });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.array(step, { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 4 }), (start, steps, segmentSeconds) => {
        let t = start;
        const messages = [video(start, true, 2000)];
        for (const s of steps) {
          t = (t + s.gap) >>> 0;
          messages.push(s.kind === 'audio' ? audio(t, s.bytes) : video(t, s.kind === 'key', s.bytes));
        }
        const w = new MeasuringWindow('cap', segmentSeconds, 1 << 30);
        const r = feed(w, messages);
        const since = (m: MediaMessage) => (m.timestamp - start) | 0;
        const closes = (m: MediaMessage) => m.typeId === 9 && ((m.keyframe && since(m) >= 1) || since(m) >= CAP_WINDOW_MS);
        const expected = messages.findIndex((m, i) => i > 0 && closes(m));
        if (expected === -1) {
          assert.equal(r, undefined);
          assert.equal(w.cut('end').held.length, messages.length);
          return;
        }
        assert.equal(r?.at, expected);
        assert.deepEqual(r.closed.held.map((m) => [m.typeId, m.timestamp, m.payload.length]), messages.slice(0, expected).map((m) => [m.typeId, m.timestamp, m.payload.length]));
        const bytes = messages.slice(0, expected).filter((m) => m.typeId === 9).reduce((n, m) => n + m.payload.length, 0);
        const span = since(messages[expected]!);
        assert.ok(Math.abs(r.closed.measurement!.kbps - (bytes * 8) / span) < 1e-9);
      }),
    );
  });
});
