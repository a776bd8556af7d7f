import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BitrateMeter } from '../../src/streams/bitrate-meter.ts';

describe('BitrateMeter', () => {
  test('steady 1 Mbps reads 1 Mbps over the window', () => {
    const m = new BitrateMeter(5000, 0);
    for (let t = 0; t < 10000; t += 100) m.add(12500, t); // 125 kB/s
    assert.ok(Math.abs(m.bitsPerSecond(10000) - 1e6) < 0.05e6, String(m.bitsPerSecond(10000)));
  });

  test('a short burst is not "sustained", a long excess is', () => {
    const m = new BitrateMeter(5000, 0);
    for (let t = 0; t < 6000; t += 100) m.add(t >= 3000 && t < 3500 ? 500_000 : 12500, t);
    assert.equal(m.sustainedAbove(10e6, 6000), false, 'one 0.5 s burst at 80 Mbps');
    const n = new BitrateMeter(5000, 0);
    for (let t = 0; t < 6000; t += 100) n.add(200_000, t); // 16 Mbps
    assert.equal(n.sustainedAbove(10e6, 6000), true);
  });

  test('not sustained before one whole window has passed', () => {
    const m = new BitrateMeter(5000, 0);
    for (let t = 0; t < 3000; t += 100) m.add(1_000_000, t);
    assert.equal(m.sustainedAbove(10e6, 3000), false);
  });

  test('old buckets fall out after silence', () => {
    const m = new BitrateMeter(2000, 0);
    m.add(1_000_000, 0);
    assert.equal(m.bitsPerSecond(60_000), 0);
  });
});
