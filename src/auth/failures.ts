/** Which check failed: a publish (RTMP) or a playback request (HTTP). */
export type AuthKind = 'publish' | 'play';

/** Why an authentication failed; the `reason` label of `proxy_rtmp_auth_failures_total`. */
export type AuthFailureReason =
  | 'missing'
  | 'malformed'
  | 'bad-signature'
  | 'expired'
  | 'expiry-too-far'
  | 'unknown-key'
  | 'webhook-denied'
  | 'webhook-unavailable'
  | 'webhook-busy';

const PUBLISH_REASONS: readonly AuthFailureReason[] = [
  'missing',
  'malformed',
  'bad-signature',
  'expired',
  'expiry-too-far',
  'unknown-key',
  'webhook-denied',
  'webhook-unavailable',
  'webhook-busy',
];
const PLAY_REASONS: readonly AuthFailureReason[] = ['missing', 'malformed', 'bad-signature', 'expired', 'expiry-too-far'];

/** One counted series. */
export interface AuthFailureCount {
  kind: AuthKind;
  reason: AuthFailureReason;
  count: number;
}

/**
 * Failed authentications since start, by kind and reason. Every reason that
 * can happen starts at 0, so the series exist before the first failure.
 */
export class AuthFailures {
  readonly #counts = new Map<string, AuthFailureCount>();

  constructor() {
    for (const reason of PUBLISH_REASONS) this.#counts.set(`publish/${reason}`, { kind: 'publish', reason, count: 0 });
    for (const reason of PLAY_REASONS) this.#counts.set(`play/${reason}`, { kind: 'play', reason, count: 0 });
  }

  /** Counts one failure. */
  count(kind: AuthKind, reason: AuthFailureReason): void {
    const id = `${kind}/${reason}`;
    const entry = this.#counts.get(id);
    if (entry === undefined) this.#counts.set(id, { kind, reason, count: 1 });
    else entry.count++;
  }

  /** Failures of `kind` and `reason` so far. */
  get(kind: AuthKind, reason: AuthFailureReason): number {
    return this.#counts.get(`${kind}/${reason}`)?.count ?? 0;
  }

  /** Every series, for the metrics. */
  list(): readonly Readonly<AuthFailureCount>[] {
    return [...this.#counts.values()];
  }
}
