/**
 * Sliding-window byte-rate meter: bytes land in fixed time buckets in a ring;
 * the rate is the sum over the window divided by its span. O(1) per sample,
 * no allocation after construction.
 */
export class BitrateMeter {
  readonly #bucketMs: number;
  readonly #buckets: Float64Array;
  #head = 0;
  /** Start time of the bucket at #head. */
  #headStart: number;
  readonly #startedAt: number;

  constructor(windowMs: number, now: number, bucketMs = 250) {
    this.#bucketMs = bucketMs;
    this.#buckets = new Float64Array(Math.max(1, Math.ceil(windowMs / bucketMs)));
    this.#headStart = now - (now % bucketMs);
    this.#startedAt = now;
  }

  /** The window this meter averages over, in ms. */
  get windowMs(): number {
    return this.#buckets.length * this.#bucketMs;
  }

  #advance(now: number): void {
    const steps = Math.floor((now - this.#headStart) / this.#bucketMs);
    if (steps <= 0) return;
    const n = this.#buckets.length;
    for (let i = 0; i < Math.min(steps, n); i++) {
      this.#head = (this.#head + 1) % n;
      this.#buckets[this.#head] = 0;
    }
    this.#headStart += steps * this.#bucketMs;
  }

  /** Records bytes received at `now` (ms). */
  add(bytes: number, now: number): void {
    this.#advance(now);
    this.#buckets[this.#head]! += bytes;
  }

  /** Bits per second over the window (or over the time since start, if shorter). */
  bitsPerSecond(now: number): number {
    this.#advance(now);
    let sum = 0;
    for (const b of this.#buckets) sum += b;
    // The ring covers the older buckets in full plus the elapsed part of the current one.
    const covered = (this.#buckets.length - 1) * this.#bucketMs + (now - this.#headStart);
    const spanMs = Math.max(1, Math.min(covered, now - this.#startedAt));
    return (sum * 8 * 1000) / spanMs;
  }

  /** True when a full window has elapsed and its average rate exceeds `limitBps`. */
  sustainedAbove(limitBps: number, now: number): boolean {
    return now - this.#startedAt >= this.windowMs && this.bitsPerSecond(now) > limitBps;
  }
}
