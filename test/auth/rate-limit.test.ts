import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConnectionLimiter, normaliseAddress } from '../../src/auth/rate-limit.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('addresses: IPv4-mapped IPv6 is the IPv4 address, zones are dropped, IPv6 is lower-cased', () => {
  assert.equal(normaliseAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(normaliseAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(normaliseAddress('127.0.0.1'), '127.0.0.1');
  assert.equal(normaliseAddress('FE80::1%eth0'), 'fe80::1');
  assert.equal(normaliseAddress('::1'), '::1');
});

test('both limits 0: everything is admitted and nothing is remembered', () => {
  const limiter = new ConnectionLimiter({ maxPerAddress: 0, perMinute: 0 });
  assert.equal(limiter.enabled, false);
  for (let i = 0; i < 1000; i++) assert.deepEqual(limiter.admit('10.0.0.1'), { allowed: true });
  assert.equal(limiter.trackedAddresses, 0);
});

test('cap: the N+1th open connection of an address is refused, other addresses are not, a close frees a slot', () => {
  const c = clock();
  const limiter = new ConnectionLimiter({ maxPerAddress: 2, perMinute: 0, now: c.now });
  assert.equal(limiter.admit('10.0.0.1').allowed, true);
  assert.equal(limiter.admit('::ffff:10.0.0.1').allowed, true, 'the same client over IPv4-mapped IPv6');
  const third = limiter.admit('10.0.0.1');
  assert.equal(third.allowed, false);
  assert.equal(!third.allowed && third.reason, 'max-per-address');
  assert.equal(limiter.admit('10.0.0.2').allowed, true, 'another address');
  assert.equal(limiter.admit('::1').allowed, true, 'IPv6 loopback is another address');
  limiter.release('10.0.0.1');
  assert.equal(limiter.openFrom('10.0.0.1'), 1);
  assert.equal(limiter.admit('10.0.0.1').allowed, true);
  assert.equal(limiter.refused.get('max-per-address'), 1);
  assert.equal(limiter.refused.get('rate-per-address'), 0);
});

test('rate: a burst of perMinute, then refused, refilled evenly over the minute; refusals use no token', () => {
  const c = clock();
  const limiter = new ConnectionLimiter({ maxPerAddress: 0, perMinute: 6, now: c.now });
  for (let i = 0; i < 6; i++) {
    assert.equal(limiter.admit('10.0.0.1').allowed, true, `burst ${i}`);
    limiter.release('10.0.0.1');
  }
  const refused = limiter.admit('10.0.0.1');
  assert.equal(!refused.allowed && refused.reason, 'rate-per-address');
  assert.equal(limiter.admit('10.0.0.9').allowed, true, 'other addresses are unaffected');
  c.advance(9_999);
  assert.equal(limiter.admit('10.0.0.1').allowed, false, 'one token takes 10 s at 6/min');
  c.advance(1);
  assert.equal(limiter.admit('10.0.0.1').allowed, true);
  assert.equal(limiter.admit('10.0.0.1').allowed, false);
  c.advance(60_000);
  for (let i = 0; i < 6; i++) assert.equal(limiter.admit('10.0.0.1').allowed, true);
  assert.equal(limiter.refused.get('rate-per-address'), 3);
});

test('refusals are reported at most once per address per logEveryMs, with the count suppressed', () => {
  const c = clock();
  const limiter = new ConnectionLimiter({ maxPerAddress: 1, perMinute: 0, logEveryMs: 1000, now: c.now });
  limiter.admit('10.0.0.1');
  const first = limiter.admit('10.0.0.1');
  assert.deepEqual(first, { allowed: false, reason: 'max-per-address', report: true, suppressed: 0 });
  for (let i = 0; i < 5; i++) assert.equal((limiter.admit('10.0.0.1') as { report: boolean }).report, false);
  c.advance(1000);
  assert.deepEqual(limiter.admit('10.0.0.1'), { allowed: false, reason: 'max-per-address', report: true, suppressed: 5 });
});

test('memory stays bounded under address churn; addresses with open connections are never forgotten', () => {
  const c = clock();
  const limiter = new ConnectionLimiter({ maxPerAddress: 1, perMinute: 10, maxTrackedAddresses: 100, now: c.now });
  assert.equal(limiter.admit('192.0.2.1').allowed, true); // stays open throughout
  for (let i = 0; i < 5000; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(limiter.admit(address).allowed, true);
    limiter.release(address);
    assert.ok(limiter.trackedAddresses <= 101, `tracked ${limiter.trackedAddresses} after ${i}`);
  }
  assert.equal(limiter.openFrom('192.0.2.1'), 1);
  assert.equal(limiter.admit('192.0.2.1').allowed, false, 'its open connection still counts');
  // Once an address is idle and its bucket full it is forgotten at once.
  c.advance(60_000);
  limiter.release('192.0.2.1');
  assert.equal(limiter.openFrom('192.0.2.1'), 0);
});

test('property: open counts never go negative nor exceed the cap, whatever the order of admits and releases', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ op: fc.constantFrom('admit', 'release'), who: fc.integer({ min: 0, max: 3 }), wait: fc.integer({ min: 0, max: 5000 }) }), { maxLength: 300 }),
      (ops) => {
        const c = clock();
        const limiter = new ConnectionLimiter({ maxPerAddress: 3, perMinute: 20, maxTrackedAddresses: 2, now: c.now });
        const open = [0, 0, 0, 0];
        for (const { op, who, wait } of ops) {
          c.advance(wait);
          const address = `10.0.0.${who}`;
          if (op === 'admit') {
            if (limiter.admit(address).allowed) open[who]!++;
          } else if (open[who]! > 0) {
            limiter.release(address);
            open[who]!--;
          }
          assert.equal(limiter.openFrom(address), open[who]);
          assert.ok(open[who]! <= 3);
        }
      },
    ),
    { numRuns: 200 },
  );
});
