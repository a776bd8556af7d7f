import { AuthDeniedError, AuthUnavailableError, AuthUnknownKeyError, AuthWebhookDeniedError } from '../errors.ts';
import type { AuthFailures } from './failures.ts';
import type { KeyList } from './keys.ts';
import { normaliseAddress } from './rate-limit.ts';
import { checkSignature, publishSubject, SIGNATURE_FAILURE_TEXT } from './signed-url.ts';
import type { WebhookRequest, WebhookVerdict } from './webhook.ts';

/** One publish to authorise. */
export interface PublishAttempt {
  /** The application of connect (already checked against rtmp.app). */
  app: string;
  /** The stream key, without its query. */
  key: string;
  /** Query parameters of connect's app/tcUrl, overridden by those of the publish name. */
  query: Readonly<Record<string, string>>;
  /** The publisher's IP address. */
  clientAddress: string;
}

/** What the authorizer needs of the webhook (a WebhookClient fits). */
export interface WebhookChecker {
  check(body: WebhookRequest): Promise<WebhookVerdict>;
}

/** Settings and parts of a PublishAuthorizer. */
export interface PublishAuthorizerOptions {
  /** auth.keys. */
  keys: KeyList;
  /** auth.secrets, current first. */
  secrets: readonly string[];
  /** auth.signedUrlMaxTtlSeconds. */
  maxTtlS: number;
  /** Present when auth.webhookUrl is set. */
  webhook?: WebhookChecker;
  /** auth.webhookFailOpen: allow when the webhook times out or cannot be reached. */
  webhookFailOpen: boolean;
  /** Most webhook calls in flight at once; beyond it publishes are refused (default 64). */
  maxPendingWebhooks?: number;
  /** Where failures are counted. */
  failures: AuthFailures;
  /** Told when a publish is let through because the webhook was unavailable (fail-open). */
  onFailOpen?: (why: string) => void;
  /** Clock, ms since the epoch (default Date.now). */
  now?: () => number;
}

/**
 * Decides whether a publish may go ahead (auth.enabled). A publish is allowed
 * when its key is listed in auth.keys, or it carries a valid, unexpired
 * signature under one of auth.secrets; and, when a webhook is configured, the
 * webhook allows it too. With neither keys nor secrets configured the webhook
 * alone decides. `authorize` resolves when allowed and rejects with a typed
 * error otherwise; the error's message is safe to send to the publisher (it
 * names neither key nor signature). Each refusal is counted by reason.
 */
export class PublishAuthorizer {
  readonly #o: PublishAuthorizerOptions;
  readonly #now: () => number;
  readonly #maxPending: number;
  #pending = 0;

  constructor(options: PublishAuthorizerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#maxPending = options.maxPendingWebhooks ?? 64;
  }

  /** Webhook calls in flight now. */
  get pendingWebhooks(): number {
    return this.#pending;
  }

  async authorize(attempt: PublishAttempt): Promise<void> {
    this.#checkCredential(attempt);
    if (this.#o.webhook !== undefined) await this.#askWebhook(this.#o.webhook, attempt);
  }

  /** Listed key, or a valid signature; skipped when neither keys nor secrets are configured. */
  #checkCredential(attempt: PublishAttempt): void {
    const { keys, secrets } = this.#o;
    if (keys.size === 0 && secrets.length === 0) return;
    if (keys.size > 0 && keys.has(attempt.key)) return;
    const { exp, sig } = attempt.query;
    // Without secrets a signature means nothing: the key alone is judged.
    if (secrets.length === 0 || (exp === undefined && sig === undefined)) {
      if (keys.size > 0) {
        this.#o.failures.count('publish', 'unknown-key');
        throw new AuthUnknownKeyError('this stream key may not publish here');
      }
      this.#o.failures.count('publish', 'missing');
      throw new AuthDeniedError(`publishing needs a signed URL: ${SIGNATURE_FAILURE_TEXT.missing}`);
    }
    const check = checkSignature({
      subject: publishSubject(attempt.app, attempt.key),
      exp,
      sig,
      secrets,
      nowS: Math.floor(this.#now() / 1000),
      maxTtlS: this.#o.maxTtlS,
    });
    if (!check.ok) {
      this.#o.failures.count('publish', check.reason);
      throw new AuthDeniedError(`publish refused: ${SIGNATURE_FAILURE_TEXT[check.reason]}`);
    }
  }

  async #askWebhook(webhook: WebhookChecker, attempt: PublishAttempt): Promise<void> {
    if (this.#pending >= this.#maxPending) {
      this.#o.failures.count('publish', 'webhook-busy');
      throw new AuthUnavailableError('too many publishes are waiting for the authorisation service; try again');
    }
    this.#pending++;
    let verdict: WebhookVerdict;
    try {
      verdict = await webhook.check({
        action: 'publish',
        app: attempt.app,
        key: attempt.key,
        clientAddress: normaliseAddress(attempt.clientAddress),
        query: attempt.query,
        time: Math.floor(this.#now() / 1000),
      });
    } finally {
      this.#pending--;
    }
    if (verdict.outcome === 'allow') return;
    if (verdict.outcome === 'deny') {
      this.#o.failures.count('publish', 'webhook-denied');
      throw new AuthWebhookDeniedError(`the authorisation service refused this publish (HTTP ${verdict.status})`);
    }
    if (this.#o.webhookFailOpen) {
      this.#o.onFailOpen?.(verdict.why);
      return;
    }
    this.#o.failures.count('publish', 'webhook-unavailable');
    throw new AuthUnavailableError(`the authorisation service did not answer (${verdict.why})`);
  }
}
