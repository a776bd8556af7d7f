import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checkSignature,
  playbackSubject,
  publishSubject,
  sign,
  signedQuery,
  signedString,
  type SignatureInput,
} from '../../src/auth/signed-url.ts';

const CURRENT = 'current-secret-0123456789';
const PREVIOUS = 'previous-secret-9876543210';
const NOW = 1_700_000_000;

function input(over: Partial<SignatureInput>): SignatureInput {
  return { subject: publishSubject('live', 'cam1'), exp: undefined, sig: undefined, secrets: [CURRENT, PREVIOUS], nowS: NOW, maxTtlS: 3600, ...over };
}

describe('signed URLs', () => {
  test('the signed string is exactly <app>/<key>:<exp> (publish) and play:<key>:<exp> (playback)', () => {
    assert.equal(signedString(publishSubject('live', 'cam1'), 1767225600), 'live/cam1:1767225600');
    assert.equal(signedString(playbackSubject('cam1'), 1767225600), 'play:cam1:1767225600');
    // Against an independent HMAC computation, lower-case hex.
    const expected = createHmac('sha256', CURRENT).update('live/cam1:1767225600').digest('hex');
    assert.equal(sign(CURRENT, 'live/cam1', 1767225600), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
    assert.equal(signedQuery(CURRENT, 'live/cam1', 1767225600), `exp=1767225600&sig=${expected}`);
  });

  test('valid under the current and under the second secret', () => {
    const exp = NOW + 60;
    for (const [secret, index] of [[CURRENT, 0], [PREVIOUS, 1]] as const) {
      const r = checkSignature(input({ exp: String(exp), sig: sign(secret, 'live/cam1', exp) }));
      assert.deepEqual(r, { ok: true, exp, sig: sign(secret, 'live/cam1', exp), secretIndex: index });
    }
    // Upper-case hex is the same bytes.
    assert.equal(checkSignature(input({ exp: String(exp), sig: sign(CURRENT, 'live/cam1', exp).toUpperCase() })).ok, true);
    // A retired secret no longer works.
    assert.deepEqual(checkSignature(input({ exp: String(exp), sig: sign(PREVIOUS, 'live/cam1', exp), secrets: [CURRENT] })), {
      ok: false,
      reason: 'bad-signature',
    });
  });

  test('refusals: expired, too far ahead, forged, other key, other app, playback token, malformed, missing', () => {
    const exp = NOW + 60;
    const cases: [string, Partial<SignatureInput>, string][] = [
      ['expired', { exp: String(NOW - 1), sig: sign(CURRENT, 'live/cam1', NOW - 1) }, 'expired'],
      ['expiring now is still valid', { exp: String(NOW), sig: sign(CURRENT, 'live/cam1', NOW) }, 'ok'],
      ['exactly max ttl ahead', { exp: String(NOW + 3600), sig: sign(CURRENT, 'live/cam1', NOW + 3600) }, 'ok'],
      ['one second beyond max ttl', { exp: String(NOW + 3601), sig: sign(CURRENT, 'live/cam1', NOW + 3601) }, 'expiry-too-far'],
      ['forged', { exp: String(exp), sig: 'a'.repeat(64) }, 'bad-signature'],
      ['exp changed after signing', { exp: String(exp + 1), sig: sign(CURRENT, 'live/cam1', exp) }, 'bad-signature'],
      ['signed for another key', { exp: String(exp), sig: sign(CURRENT, 'live/cam2', exp) }, 'bad-signature'],
      ['signed for another app', { exp: String(exp), sig: sign(CURRENT, 'other/cam1', exp) }, 'bad-signature'],
      ['a playback token', { exp: String(exp), sig: sign(CURRENT, playbackSubject('cam1'), exp) }, 'bad-signature'],
      ['signed with an unknown secret', { exp: String(exp), sig: sign('someone-elses-secret', 'live/cam1', exp) }, 'bad-signature'],
      ['exp not a number', { exp: 'soon', sig: sign(CURRENT, 'live/cam1', exp) }, 'malformed'],
      ['exp negative', { exp: '-5', sig: sign(CURRENT, 'live/cam1', exp) }, 'malformed'],
      ['exp too long', { exp: '1'.repeat(13), sig: sign(CURRENT, 'live/cam1', exp) }, 'malformed'],
      ['sig too short', { exp: String(exp), sig: sign(CURRENT, 'live/cam1', exp).slice(0, 63) }, 'malformed'],
      ['sig not hex', { exp: String(exp), sig: 'z'.repeat(64) }, 'malformed'],
      ['sig without exp', { sig: sign(CURRENT, 'live/cam1', exp) }, 'malformed'],
      ['exp without sig', { exp: String(exp) }, 'malformed'],
      ['neither', {}, 'missing'],
    ];
    for (const [what, over, expected] of cases) {
      const r = checkSignature(input(over));
      assert.equal(r.ok ? 'ok' : r.reason, expected, what);
    }
  });

  test('a forged signature is refused before its expiry is judged', () => {
    // Otherwise an attacker could learn whether an exp value is acceptable without a secret.
    const r = checkSignature(input({ exp: String(NOW - 100), sig: 'b'.repeat(64) }));
    assert.deepEqual(r, { ok: false, reason: 'bad-signature' });
  });

  test('property: a signature verifies for its own subject and exp only; publish and playback strings never coincide', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    const app = fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/);
    fc.assert(
      fc.property(app, key, key, fc.integer({ min: 0, max: 3600 }), fc.integer({ min: 0, max: 63 }), (a, k, other, ttl, flip) => {
        const exp = NOW + ttl;
        const sig = sign(CURRENT, publishSubject(a, k), exp);
        assert.equal(checkSignature(input({ subject: publishSubject(a, k), exp: String(exp), sig })).ok, true);
        const mutated = sig.slice(0, flip) + (sig[flip] === '0' ? '1' : '0') + sig.slice(flip + 1);
        assert.equal(checkSignature(input({ subject: publishSubject(a, k), exp: String(exp), sig: mutated })).ok, false);
        if (other !== k) assert.equal(checkSignature(input({ subject: publishSubject(a, other), exp: String(exp), sig })).ok, false);
        assert.notEqual(signedString(publishSubject(a, k), exp), signedString(playbackSubject(other), exp));
      }),
      { numRuns: 200 },
    );
  });
});
