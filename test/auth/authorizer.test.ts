import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { PublishAuthorizer, type PublishAuthorizerOptions, type WebhookChecker } from '../../src/auth/authorizer.ts';
import { AuthFailures } from '../../src/auth/failures.ts';
import { KeyList } from '../../src/auth/keys.ts';
import { publishSubject, sign } from '../../src/auth/signed-url.ts';
import type { WebhookRequest, WebhookVerdict } from '../../src/auth/webhook.ts';
import { refusalFor } from '../../src/ingest/refusal.ts';

const SECRET = 'secret-for-signing-0123';
const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;

function authorizer(over: Partial<PublishAuthorizerOptions> = {}) {
  const failures = new AuthFailures();
  const a = new PublishAuthorizer({
    keys: new KeyList([]),
    secrets: [],
    maxTtlS: 3600,
    webhookFailOpen: false,
    failures,
    now: () => NOW_MS,
    ...over,
  });
  return { a, failures };
}

const attempt = (key: string, query: Record<string, string> = {}) => ({ app: 'live', key, query, clientAddress: '::ffff:127.0.0.1' });
const signed = (key: string, exp = NOW + 60, secret = SECRET) => ({ exp: String(exp), sig: sign(secret, publishSubject('live', key), exp) });

/** Asserts a refusal: its code, the onStatus it maps to, and that its text names neither key nor signature. */
async function refused(p: Promise<void>, code: string, rtmpCode: string, secretsInText: string[]): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, code);
    assert.equal(refusalFor(err).code, rtmpCode);
    assert.equal(refusalFor(err).reason, 'auth');
    for (const s of secretsInText) assert.ok(!err.message.includes(s), `${err.message} names ${s}`);
    return true;
  });
}

test('listed keys, plain or hashed, are allowed; others get BadName', async () => {
  const hash = createHash('sha256').update('hashed_one').digest('hex');
  const { a, failures } = authorizer({ keys: new KeyList(['cam1', `sha256:${hash}`]) });
  await a.authorize(attempt('cam1'));
  await a.authorize(attempt('hashed_one'));
  await refused(a.authorize(attempt('cam2')), 'ERR_AUTH_UNKNOWN_KEY', 'NetStream.Publish.BadName', ['cam2']);
  // With no secrets configured, a signature changes nothing.
  await refused(a.authorize(attempt('cam2', signed('cam2'))), 'ERR_AUTH_UNKNOWN_KEY', 'NetStream.Publish.BadName', ['cam2']);
  assert.equal(failures.get('publish', 'unknown-key'), 2);
});

test('signed URLs: valid under either secret; expired, forged, too far ahead and malformed are Unauthorized', async () => {
  const second = 'the-previous-secret-4567';
  const { a, failures } = authorizer({ keys: new KeyList(['cam1']), secrets: [SECRET, second] });
  await a.authorize(attempt('k_9f3x', signed('k_9f3x')));
  await a.authorize(attempt('k_9f3x', signed('k_9f3x', NOW + 60, second)));
  // A listed key needs no signature, and a bad one does not hurt it.
  await a.authorize(attempt('cam1', { exp: '1', sig: 'f'.repeat(64) }));
  const bad: Record<string, string>[] = [
    signed('k_9f3x', NOW - 10), // expired
    signed('k_9f3x', NOW + 7200), // expiry-too-far
    { ...signed('k_9f3x'), sig: 'e'.repeat(64) }, // bad-signature: forged
    signed('other'), // bad-signature: another key's
    { exp: 'x', sig: 'y' }, // malformed
  ];
  for (const query of bad) {
    await refused(a.authorize(attempt('k_9f3x', query)), 'ERR_AUTH_DENIED', 'NetStream.Publish.Unauthorized', ['k_9f3x', query['sig']!]);
  }
  const counts = ['expired', 'expiry-too-far', 'bad-signature', 'malformed'].map((r) => failures.get('publish', r as never));
  assert.deepEqual(counts, [1, 1, 2, 1]);
  // No signature and not listed: BadName when keys are configured …
  await refused(a.authorize(attempt('nobody')), 'ERR_AUTH_UNKNOWN_KEY', 'NetStream.Publish.BadName', ['nobody']);
  // … Unauthorized when only secrets are.
  const secretsOnly = authorizer({ secrets: [SECRET] });
  await refused(secretsOnly.a.authorize(attempt('nobody')), 'ERR_AUTH_DENIED', 'NetStream.Publish.Unauthorized', ['nobody']);
  assert.equal(secretsOnly.failures.get('publish', 'missing'), 1);
});

class FakeWebhook implements WebhookChecker {
  calls: WebhookRequest[] = [];
  constructor(public verdict: WebhookVerdict, public delayMs = 0) {}
  async check(body: WebhookRequest): Promise<WebhookVerdict> {
    this.calls.push(body);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.verdict;
  }
}

test('webhook: asked after the credential passes; deny, unavailable (fail-closed and fail-open) and saturation', async () => {
  const hook = new FakeWebhook({ outcome: 'allow', status: 200 });
  const openNotes: string[] = [];
  const { a, failures } = authorizer({ keys: new KeyList(['cam1']), webhook: hook, onFailOpen: (why) => openNotes.push(why) });
  await a.authorize(attempt('cam1', { token: 't' }));
  assert.deepEqual(hook.calls[0], { action: 'publish', app: 'live', key: 'cam1', clientAddress: '127.0.0.1', query: { token: 't' }, time: NOW });
  // A key refused locally never reaches the webhook.
  await assert.rejects(a.authorize(attempt('cam9')));
  assert.equal(hook.calls.length, 1);
  hook.verdict = { outcome: 'deny', status: 403 };
  await refused(a.authorize(attempt('cam1')), 'ERR_AUTH_WEBHOOK_DENIED', 'NetStream.Publish.Unauthorized', ['cam1']);
  hook.verdict = { outcome: 'unavailable', why: 'timeout' };
  await refused(a.authorize(attempt('cam1')), 'ERR_AUTH_UNAVAILABLE', 'NetStream.Publish.Unauthorized', ['cam1']);
  assert.equal(failures.get('publish', 'webhook-denied'), 1);
  assert.equal(failures.get('publish', 'webhook-unavailable'), 1);
  const open = authorizer({ webhook: hook, webhookFailOpen: true, onFailOpen: (why) => openNotes.push(why) });
  await open.a.authorize(attempt('anything'));
  assert.deepEqual(openNotes, ['timeout']);
  // Denials are not softened by fail-open.
  hook.verdict = { outcome: 'deny', status: 500 };
  await assert.rejects(open.a.authorize(attempt('anything')), { code: 'ERR_AUTH_WEBHOOK_DENIED' });

  const slow = new FakeWebhook({ outcome: 'allow', status: 200 }, 100);
  const bounded = authorizer({ webhook: slow, maxPendingWebhooks: 2 });
  const first = [bounded.a.authorize(attempt('a')), bounded.a.authorize(attempt('b'))];
  assert.equal(bounded.a.pendingWebhooks, 2);
  await refused(bounded.a.authorize(attempt('c')), 'ERR_AUTH_UNAVAILABLE', 'NetStream.Publish.Unauthorized', []);
  await Promise.all(first);
  assert.equal(bounded.a.pendingWebhooks, 0);
  assert.equal(bounded.failures.get('publish', 'webhook-busy'), 1);
});
