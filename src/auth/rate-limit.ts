/** Why a connection was refused at accept; the `reason` label of `proxy_rtmp_connections_refused_total`. */
export type ConnectionRefusal = 'max-per-address' | 'rate-per-address';

/** Per-address connection limits (the `limits` config section). */
export interface ConnectionLimitOptions {
  /** Most connections open at once from one address; 0: no cap. */
  maxPerAddress: number;
  /** Most new connections per minute from one address; 0: no limit. */
  perMinute: number;
  /** Idle addresses remembered at most (default 10 000); see ConnectionLimiter. */
  maxTrackedAddresses?: number;
  /** How often one address's refusals are logged at most, ms (default 10 000). */
  logEveryMs?: number;
  /** Clock, ms (default Date.now). */
  now?: () => number;
}

/** The verdict on one new connection. */
export type Admission =
  | { allowed: true }
  | {
      allowed: false;
      reason: ConnectionRefusal;
      /** True when this refusal should be logged (at most once per address per logEveryMs). */
      report: boolean;
      /** Refusals of this address not logged since the last logged one. */
      suppressed: number;
    };

interface AddressState {
  open: number;
  /** Token bucket: capacity perMinute, refilled at perMinute per 60 s. */
  tokens: number;
  refilledAt: number;
  lastReportAt: number;
  suppressed: number;
}

const WINDOW_MS = 60_000;

/**
 * IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as a dual-stack listener
 * reports IPv4 peers) as plain IPv4, so one client is one address whichever
 * way it connected; a zone (`%eth0`) is dropped.
 */
export function normaliseAddress(address: string): string {
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  return mapped === null ? bare.toLowerCase() : mapped[1]!;
}

/**
 * Per-address admission at TCP accept: a cap on connections open at once and
 * a token bucket of `perMinute` new connections refilled evenly over a minute
 * (so at most `perMinute` in a burst, then one every 60/perMinute s). Refused
 * connections use no token and are counted by reason.
 *
 * Memory stays bounded under address churn: an address is forgotten as soon as
 * it has no open connection and a full bucket (it would be admitted exactly as a
 * new one), and when more than `maxTrackedAddresses` idle addresses are
 * remembered the least recently seen are forgotten first. Addresses with open
 * connections are always kept (their count is needed), so the table holds at
 * most the open sockets' addresses plus `maxTrackedAddresses`.
 */
export class ConnectionLimiter {
  readonly #maxPerAddress: number;
  readonly #perMinute: number;
  readonly #maxTracked: number;
  readonly #logEveryMs: number;
  readonly #now: () => number;
  /** Least recently seen first (re-inserted on every admit). */
  readonly #table = new Map<string, AddressState>();
  /** Entries of #table with at least one open connection. */
  #busyAddresses = 0;
  readonly #refused = new Map<ConnectionRefusal, number>([
    ['max-per-address', 0],
    ['rate-per-address', 0],
  ]);

  constructor(options: ConnectionLimitOptions) {
    this.#maxPerAddress = options.maxPerAddress;
    this.#perMinute = options.perMinute;
    this.#maxTracked = options.maxTrackedAddresses ?? 10_000;
    this.#logEveryMs = options.logEveryMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** True when either limit is configured. */
  get enabled(): boolean {
    return this.#maxPerAddress > 0 || this.#perMinute > 0;
  }

  /** Refused connections by reason since start. */
  get refused(): ReadonlyMap<ConnectionRefusal, number> {
    return this.#refused;
  }

  /** Addresses remembered now. */
  get trackedAddresses(): number {
    return this.#table.size;
  }

  /** Connections open now from `address` (as counted by admit/release). */
  openFrom(address: string): number {
    return this.#table.get(normaliseAddress(address))?.open ?? 0;
  }

  /**
   * Decides on a new connection from `address`. When allowed, the caller must
   * call release(address) exactly once when that connection closes.
   */
  admit(address: string): Admission {
    if (!this.enabled) return { allowed: true };
    const id = normaliseAddress(address);
    const now = this.#now();
    let state = this.#table.get(id);
    if (state === undefined) {
      state = { open: 0, tokens: this.#perMinute, refilledAt: now, lastReportAt: -Infinity, suppressed: 0 };
    } else {
      this.#table.delete(id);
      this.#refill(state, now);
    }
    this.#table.set(id, state);
    let reason: ConnectionRefusal | undefined;
    if (this.#maxPerAddress > 0 && state.open >= this.#maxPerAddress) reason = 'max-per-address';
    else if (this.#perMinute > 0 && state.tokens < 1) reason = 'rate-per-address';
    if (reason === undefined) {
      if (this.#perMinute > 0) state.tokens -= 1;
      if (state.open++ === 0) this.#busyAddresses++;
      this.#prune();
      return { allowed: true };
    }
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
    const report = now - state.lastReportAt >= this.#logEveryMs;
    const suppressed = state.suppressed;
    if (report) {
      state.lastReportAt = now;
      state.suppressed = 0;
    } else {
      state.suppressed++;
    }
    this.#prune();
    return { allowed: false, reason, report, suppressed };
  }

  /** One admitted connection from `address` closed. */
  release(address: string): void {
    if (!this.enabled) return;
    const id = normaliseAddress(address);
    const state = this.#table.get(id);
    if (state === undefined || state.open === 0) return;
    if (--state.open === 0) this.#busyAddresses--;
    this.#refill(state, this.#now());
    if (this.#forgettable(state)) this.#table.delete(id);
    else this.#prune();
  }

  #refill(state: AddressState, now: number): void {
    if (this.#perMinute === 0) return;
    const elapsed = Math.max(0, now - state.refilledAt);
    state.tokens = Math.min(this.#perMinute, state.tokens + (elapsed * this.#perMinute) / WINDOW_MS);
    state.refilledAt = now;
  }

  /** Idle and indistinguishable from an address never seen (refusal log throttling aside). */
  #forgettable(state: AddressState): boolean {
    return state.open === 0 && (this.#perMinute === 0 || state.tokens >= this.#perMinute);
  }

  /** Forgets idle addresses, least recently seen first, while more than maxTracked are idle. */
  #prune(): void {
    let idle = this.#table.size - this.#busyAddresses;
    if (idle <= this.#maxTracked) return;
    for (const [id, state] of this.#table) {
      if (state.open > 0) continue;
      this.#table.delete(id);
      if (--idle <= this.#maxTracked) break;
    }
  }
}
