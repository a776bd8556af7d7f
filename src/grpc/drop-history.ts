/**
 * When each stream's GOP feed dropped GOPs (ffmpeg fell behind), so health can
 * say so while it happens and for a while after it stopped: an NLB, or the
 * operator reading HealthCheck, sees that a stream lost media even once the
 * encoder caught up. Pure: fed each stream's cumulative counters and the
 * time, at every health evaluation (once a second, and on each request).
 */

/** What the history reads of one stream (a StreamEntry satisfies it). */
export interface DropCounters {
  readonly key: string;
  readonly transcode: { readonly droppedGops: number; readonly droppedFrames: number } | undefined;
}

/** One run of drops on one stream: drops no more than `quietMs` apart. */
export interface DropEpisode {
  key: string;
  gops: number;
  /** Video frames dropped with those GOPs. */
  frames: number;
  /** When the first and the latest drop of the run were seen (ms since the epoch, to the evaluation). */
  from: number;
  to: number;
}

/** Hold times of the history. */
export interface DropHistoryOptions {
  /** Drops this far apart or less belong to one episode; it is over once none came for this long. Default 10 s. */
  quietMs?: number;
  /** An episode that is over is still reported for this long after its last drop. Default 5 min. */
  keepMs?: number;
}

/** What the history reports at one moment. */
export interface DropReport {
  /** Episodes still going (a drop within `quietMs`). */
  ongoing: DropEpisode[];
  /** Episodes over, their last drop within `keepMs`, newest first. */
  recent: DropEpisode[];
}

interface Seen {
  gops: number;
  frames: number;
}

/** Per-stream drop episodes from cumulative counters. */
export class DropHistory {
  readonly #quietMs: number;
  readonly #keepMs: number;
  /** Counters as last seen, by key; a stream published again starts its counters at 0. */
  readonly #seen = new Map<string, Seen>();
  readonly #open = new Map<string, DropEpisode>();
  #closed: DropEpisode[] = [];

  constructor(options: DropHistoryOptions = {}) {
    this.#quietMs = options.quietMs ?? 10_000;
    this.#keepMs = options.keepMs ?? 300_000;
  }

  /** Records the counters of the live streams at `now`; returns the episodes to report. */
  update(streams: readonly DropCounters[], now: number): DropReport {
    const live = new Set<string>();
    for (const s of streams) {
      if (s.transcode === undefined) continue;
      live.add(s.key);
      const { droppedGops: gops, droppedFrames: frames } = s.transcode;
      const before = this.#seen.get(s.key);
      this.#seen.set(s.key, { gops, frames });
      // New counters (a new publish of the key) start from what they hold.
      const base = before === undefined || gops < before.gops || frames < before.frames ? { gops: 0, frames: 0 } : before;
      // A GOP is counted when its drop starts, its frames as they arrive: either growing means media is being lost now.
      const moreGops = gops - base.gops;
      const moreFrames = frames - base.frames;
      if (moreGops <= 0 && moreFrames <= 0) continue;
      const open = this.#open.get(s.key);
      if (open !== undefined) {
        open.gops += moreGops;
        open.frames += moreFrames;
        open.to = now;
      } else {
        this.#open.set(s.key, { key: s.key, gops: moreGops, frames: moreFrames, from: now, to: now });
      }
    }
    for (const key of this.#seen.keys()) if (!live.has(key)) this.#seen.delete(key);
    for (const [key, episode] of this.#open) {
      if (now - episode.to < this.#quietMs) continue;
      this.#open.delete(key);
      this.#closed.push(episode);
    }
    this.#closed = this.#closed.filter((e) => now - e.to < this.#keepMs);
    return {
      ongoing: [...this.#open.values()].map((e) => ({ ...e })),
      recent: this.#closed.map((e) => ({ ...e })).reverse(),
    };
  }
}
