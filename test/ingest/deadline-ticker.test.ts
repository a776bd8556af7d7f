import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeadlineTicker, tickFor } from '../../src/ingest/deadline-ticker.ts';
import { FakeClock } from '../support/session-harness.ts';

/** A FakeClock that counts the timers armed on it. */
class CountingClock extends FakeClock {
  armed = 0;
  override setTimeout(fn: () => void, ms: number) {
    this.armed++;
    return super.setTimeout(fn, ms);
  }
}

describe('DeadlineTicker: one timer for every session', () => {
  test('calls every check each period with the clock, one timer for all of them', () => {
    const clock = new CountingClock();
    const ticker = new DeadlineTicker(clock, 100);
    const seen: [string, number][] = [];
    const t0 = clock.now();
    ticker.add((now) => seen.push(['a', now - t0]));
    ticker.add((now) => seen.push(['b', now - t0]));
    assert.equal(clock.armed, 1, 'a second check arms no second timer');
    clock.advance(250);
    assert.deepEqual(seen, [['a', 100], ['b', 100], ['a', 200], ['b', 200]]);
    assert.equal(clock.armed, 3, 'one timer per tick, not per check');
  });

  test('with no check registered nothing is armed: an idle server never wakes for it', () => {
    const clock = new CountingClock();
    const ticker = new DeadlineTicker(clock, 100);
    assert.equal(clock.armed, 0);
    const remove = ticker.add(() => {});
    remove();
    remove();
    assert.equal(ticker.size, 0);
    let calls = 0;
    const after = clock.armed;
    clock.advance(1000);
    assert.equal(clock.armed, after, 'armed again after the last check left');
    ticker.add(() => calls++);
    clock.advance(1000);
    assert.equal(calls, 10);
  });

  test('a check may remove itself or another during a tick; the rest still run, and ticks go on', () => {
    const clock = new FakeClock();
    const ticker = new DeadlineTicker(clock, 50);
    const calls: string[] = [];
    let removeB: () => void = () => {};
    const removeA = ticker.add(() => {
      calls.push('a');
      removeA();
      removeB();
    });
    removeB = ticker.add(() => calls.push('b'));
    ticker.add(() => calls.push('c'));
    clock.advance(100);
    assert.deepEqual(calls, ['a', 'c', 'c']);
  });

  test('a throwing check does not stop the ticker', () => {
    const clock = new FakeClock();
    const ticker = new DeadlineTicker(clock, 10);
    let calls = 0;
    ticker.add(() => {
      calls++;
      if (calls === 1) throw new Error('boom');
    });
    assert.throws(() => clock.advance(10), /boom/);
    clock.advance(20);
    assert.equal(calls, 3);
  });

  test('tickFor: a tenth of the shortest timeout, within 10 ms .. 1 s', () => {
    assert.equal(tickFor(10_000, 30_000), 1000);
    assert.equal(tickFor(5000, 1500), 150);
    assert.equal(tickFor(50), 10);
    assert.throws(() => new DeadlineTicker(new FakeClock(), 0), RangeError);
  });
});
