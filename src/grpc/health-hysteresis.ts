/**
 * Hysteresis for health conditions, so a load balancer does not see health
 * flap: a condition is reported once it has held for `raiseMs`, and stays
 * reported until it has been absent for `clearMs`. A condition that goes away
 * before it is raised starts again from zero when it comes back. Pure: fed
 * the conditions of the moment and the time, no timers.
 */

/** One thing wrong now, as the health rules see it (module-figures.ts healthConditions). */
export interface HealthCondition {
  /** Stable identity across evaluations (`cpu`, `disk`, `slow:<key>`…); its text may change. */
  id: string;
  level: 'degraded' | 'unhealthy';
  /** What is wrong, with the latest figure ("CPU usage at 97%"). */
  text: string;
  /** Raised at once, without waiting `raiseMs` (facts rather than measurements: listener down, no slot left). */
  immediate?: boolean;
  /** Cleared as soon as it is absent, without waiting `clearMs` (a phase that ends for good, like start-up). */
  transient?: boolean;
}

/** A condition being reported, and since when it has held (ms since the epoch). */
export interface ActiveCondition extends HealthCondition {
  since: number;
}

/** Hold times; defaults 5 s each. */
export interface HysteresisOptions {
  raiseMs?: number;
  clearMs?: number;
}

interface Tracked {
  condition: HealthCondition;
  firstSeen: number;
  active: boolean;
  /** When it was first found absent after being raised; undefined while present. */
  missingSince: number | undefined;
}

/** `2026-12-03T19:30:05Z`: ISO 8601 in UTC, to the second. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One error line: "CPU usage at 97% since 2026-12-03T19:30:05Z". */
export function describeActive(c: ActiveCondition): string {
  return `${c.text} since ${isoSeconds(c.since)}`;
}

/** The state machine; one per process, fed on every sample and every health request. */
export class HealthHysteresis {
  readonly #raiseMs: number;
  readonly #clearMs: number;
  readonly #tracked = new Map<string, Tracked>();

  constructor(options: HysteresisOptions = {}) {
    this.#raiseMs = options.raiseMs ?? 5000;
    this.#clearMs = options.clearMs ?? 5000;
  }

  /**
   * Records the conditions present at `now` and returns those to report, in
   * the order they were first seen. Times must not go backwards (an earlier
   * `now` is treated as the latest one seen).
   */
  update(present: readonly HealthCondition[], now: number): ActiveCondition[] {
    const seen = new Set<string>();
    for (const condition of present) {
      seen.add(condition.id);
      const t = this.#tracked.get(condition.id);
      if (t === undefined) {
        this.#tracked.set(condition.id, { condition, firstSeen: now, active: condition.immediate === true || this.#raiseMs <= 0, missingSince: undefined });
        continue;
      }
      t.condition = condition;
      t.missingSince = undefined;
      if (!t.active && (condition.immediate === true || now - t.firstSeen >= this.#raiseMs)) t.active = true;
    }
    for (const [id, t] of this.#tracked) {
      if (seen.has(id)) continue;
      if (!t.active || t.condition.transient === true) {
        this.#tracked.delete(id);
        continue;
      }
      t.missingSince ??= now;
      if (now - t.missingSince >= this.#clearMs) this.#tracked.delete(id);
    }
    const out: ActiveCondition[] = [];
    for (const t of this.#tracked.values()) if (t.active) out.push({ ...t.condition, since: t.firstSeen });
    return out;
  }
}
