import type { Clock, Timer } from '../util/clock.ts';

/** A deadline check, called with the clock at each tick. */
export type DeadlineCheck = (now: number) => void;

/**
 * One coarse timer shared by every RTMP session, instead of a timer per
 * session re-armed on every read. A session keeps its deadlines (handshake,
 * idle, publish) as plain numbers: moving one forward on the read path is a
 * store, not a timer operation. Every `everyMs`, while at least one check is
 * registered, the ticker calls each check with the clock; a server with no
 * connection never wakes for it. A deadline therefore fires between its time
 * and `everyMs` after it (nginx-rtmp's timeouts are just as coarse:
 * `timer_resolution`).
 */
export class DeadlineTicker {
  readonly everyMs: number;
  readonly #clock: Clock;
  readonly #checks = new Set<DeadlineCheck>();
  #timer: Timer | undefined;

  constructor(clock: Clock, everyMs: number) {
    if (!(everyMs > 0)) throw new RangeError(`tick period must be positive, got ${everyMs}`);
    this.#clock = clock;
    this.everyMs = everyMs;
  }

  /** Checks registered now. */
  get size(): number {
    return this.#checks.size;
  }

  /** Registers `check`; returns its removal (idempotent). The timer runs while any is registered. */
  add(check: DeadlineCheck): () => void {
    this.#checks.add(check);
    this.#arm();
    return () => {
      if (!this.#checks.delete(check) || this.#checks.size > 0) return;
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    };
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#checks.size === 0) return;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.everyMs);
  }

  #tick(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    try {
      // A check may remove itself (a session that times out closes): Set iteration allows it.
      for (const check of this.#checks) check(now);
    } finally {
      this.#arm();
    }
  }
}

/** The tick for these timeouts: a tenth of the shortest, within 10 ms .. 1 s. */
export function tickFor(...timeoutsMs: number[]): number {
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...timeoutsMs) / 10)));
}
