/** A timer as its owner uses it (a NodeJS.Timeout fits). */
export interface Timer {
  refresh(): unknown;
  unref(): unknown;
}

/** A clock and timers, injected so that time-driven behaviour is tested on a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

/** Date.now and the Node.js timers. */
export const SYSTEM_CLOCK: Clock = { now: Date.now, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined) };
