import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeActive, HealthHysteresis, isoSeconds, type HealthCondition } from '../../src/grpc/health-hysteresis.ts';

const T0 = Date.UTC(2026, 11, 3, 19, 30, 5, 250);
const cpu = (pct: number): HealthCondition => ({ id: 'cpu', level: 'degraded', text: `CPU usage at ${pct}%` });
const down: HealthCondition = { id: 'rtmp-down', level: 'unhealthy', text: 'RTMP listener is down', immediate: true };
const starting: HealthCondition = { id: 'starting', level: 'unhealthy', text: 'starting', immediate: true, transient: true };

/** Each step: seconds after T0, the conditions present then, and the ids reported. */
type Step = [seconds: number, present: HealthCondition[], reported: string[]];

const tables: { name: string; steps: Step[] }[] = [
  {
    name: 'raised only after holding 5 s, cleared only after 5 s absent',
    steps: [
      [0, [cpu(95)], []], [1, [cpu(96)], []], [4.9, [cpu(97)], []], [5, [cpu(97)], ['cpu']],
      [6, [], ['cpu']], [10.9, [], ['cpu']], [11, [], []],
    ],
  },
  {
    name: 'a spike shorter than the hold never shows, and starts from zero next time',
    steps: [[0, [cpu(99)], []], [3, [cpu(99)], []], [4, [], []], [5, [cpu(99)], []], [9, [cpu(99)], []], [10, [cpu(99)], ['cpu']]],
  },
  {
    name: 'a dip while raised does not clear it; the clear hold restarts',
    steps: [[0, [cpu(95)], []], [5, [cpu(95)], ['cpu']], [6, [], ['cpu']], [9, [cpu(92)], ['cpu']], [10, [], ['cpu']], [14, [], ['cpu']], [15, [], []]],
  },
  {
    name: 'an immediate condition shows at once and still clears after the hold',
    steps: [[0, [down], ['rtmp-down']], [1, [], ['rtmp-down']], [6, [], []]],
  },
  {
    name: 'a transient condition (start-up) shows at once and clears the moment it is gone',
    steps: [[0, [starting], ['starting']], [1.5, [starting], ['starting']], [1.6, [], []], [7, [], []]],
  },
  {
    name: 'conditions are independent and listed in the order first seen',
    steps: [[0, [cpu(95)], []], [2, [cpu(95), down], ['rtmp-down']], [5, [down, cpu(95)], ['cpu', 'rtmp-down']]],
  },
];

describe('HealthHysteresis with a fake clock', () => {
  for (const { name, steps } of tables) {
    test(name, () => {
      const h = new HealthHysteresis({ raiseMs: 5000, clearMs: 5000 });
      for (const [seconds, present, reported] of steps) {
        const got = h.update(present, T0 + seconds * 1000).map((c) => c.id);
        assert.deepEqual(got, reported, `at ${seconds} s`);
      }
    });
  }

  test('the line says what is wrong now and since when it held', () => {
    const h = new HealthHysteresis();
    h.update([cpu(95)], T0);
    const [active] = h.update([cpu(97)], T0 + 5000);
    assert.equal(active?.since, T0);
    assert.equal(describeActive(active!), 'CPU usage at 97% since 2026-12-03T19:30:05Z');
    assert.equal(isoSeconds(Date.UTC(2026, 0, 1)), '2026-01-01T00:00:00Z');
  });

  test('hold times are options', () => {
    const h = new HealthHysteresis({ raiseMs: 0, clearMs: 0 });
    assert.deepEqual(h.update([cpu(95)], T0).map((c) => c.id), ['cpu']);
    assert.deepEqual(h.update([], T0 + 1), []);
  });
});
