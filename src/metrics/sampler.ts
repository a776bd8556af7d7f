import { TypedEmitter } from '../util/events.ts';
import { cpuBetween, EMPTY_SAMPLE, sampleOf, type GpuReading, type SystemReading, type SystemSample } from './system.ts';

/** What the sampler reads from (a SystemMonitor satisfies it). */
export interface SampleSource {
  /** Cumulative counters; walks /proc. */
  read(): Promise<SystemReading>;
  /** GPU utilisation; may spawn nvidia-smi. */
  readGpu(): Promise<GpuReading>;
  /** Cores the whole-machine CPU share is normalised by. */
  readonly cores: number;
}

/** Time and timers, injected so tests drive the sampler by hand. */
export interface SamplerClock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called; must not keep the process alive. */
  every(ms: number, fn: () => void): () => void;
}

/** The real clock: Date.now and an unref'd setInterval. */
export const SYSTEM_CLOCK: SamplerClock = {
  now: Date.now,
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** SystemSampler options; the defaults are what the server runs with. */
export interface SystemSamplerOptions {
  /** How often /proc is read. Default 1000 ms. */
  periodMs?: number;
  /** The CPU figures cover this much time (less until the sampler has run that long). Default 5000 ms. */
  windowMs?: number;
  /** The GPU is read (nvidia-smi spawned) at most this often. Default 5000 ms. */
  gpuPeriodMs?: number;
  clock?: SamplerClock;
  /** A failed reading; the previous sample stays. */
  onError?: (err: unknown) => void;
}

/** Events of a SystemSampler. */
export interface SamplerEvents extends Record<string, unknown[]> {
  /** A new sample, and when it was taken (ms since the epoch). */
  sample: [SystemSample, number];
}

interface Stamped {
  at: number;
  reading: SystemReading;
}

/**
 * The one place in the process that measures CPU, memory and GPU: every
 * `periodMs` it takes a reading, and publishes CPU over the last `windowMs`
 * (the difference between the newest reading and the last one at least that
 * old). Every RPC and every /metrics scrape reads {@link latest}, so callers
 * close together get the same figures, and none of them walks /proc or
 * spawns anything.
 *
 * The GPU reading (nvidia-smi, up to 2 s) is started at most every
 * `gpuPeriodMs`, never awaited by a tick: its result joins the samples that
 * follow it. A tick still running when the next is due makes that one skip.
 */
export class SystemSampler extends TypedEmitter<SamplerEvents> {
  readonly #source: SampleSource;
  readonly #periodMs: number;
  readonly #windowMs: number;
  readonly #gpuPeriodMs: number;
  readonly #clock: SamplerClock;
  readonly #onError: (err: unknown) => void;
  #readings: Stamped[] = [];
  #latest: SystemSample = EMPTY_SAMPLE;
  #latestAt: number | undefined;
  #gpu: GpuReading | undefined;
  #gpuStartedAt: number | undefined;
  #gpuInFlight = false;
  #ticking = false;
  #cancel: (() => void) | undefined;

  constructor(source: SampleSource, options: SystemSamplerOptions = {}) {
    super((err) => this.#onError(err));
    this.#source = source;
    this.#periodMs = options.periodMs ?? 1000;
    this.#windowMs = options.windowMs ?? 5000;
    this.#gpuPeriodMs = options.gpuPeriodMs ?? 5000;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#onError = options.onError ?? (() => {});
  }

  /** The newest sample ({@link EMPTY_SAMPLE} before the first); never measures anything. */
  latest(): SystemSample {
    return this.#latest;
  }

  /** When the newest sample was taken (ms since the epoch), undefined before the first. */
  get sampledAt(): number | undefined {
    return this.#latestAt;
  }

  /** Takes a first sample now, then one every period. Resolves once the first is in. */
  start(): Promise<void> {
    if (this.#cancel === undefined) this.#cancel = this.#clock.every(this.#periodMs, () => void this.tick());
    return this.tick();
  }

  /** Stops the timer; a GPU reading in flight finishes unobserved. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** One step: a reading, the sample over the window, and the GPU reading started if due. */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const at = this.#clock.now();
      this.#startGpu(at);
      const reading = await this.#source.read();
      this.#readings.push({ at, reading });
      const newest = this.#readings.length - 1;
      // The newest reading at least a window old is the baseline; older ones are no longer needed.
      let base = 0;
      for (let i = 0; i < newest; i++) if (this.#readings[i]!.at <= at - this.#windowMs) base = i;
      this.#readings = this.#readings.slice(base);
      const older = this.#readings.length > 1 ? this.#readings[0]!.reading : undefined;
      this.#latest = sampleOf(cpuBetween(older, reading, this.#source.cores), reading, this.#gpu);
      this.#latestAt = at;
      this.safeEmit('sample', this.#latest, at);
    } catch (err) {
      this.#onError(err);
    } finally {
      this.#ticking = false;
    }
  }

  #startGpu(at: number): void {
    if (this.#gpuInFlight) return;
    if (this.#gpuStartedAt !== undefined && at - this.#gpuStartedAt < this.#gpuPeriodMs) return;
    this.#gpuStartedAt = at;
    this.#gpuInFlight = true;
    this.#source.readGpu().then(
      (gpu) => {
        this.#gpu = gpu;
        this.#gpuInFlight = false;
      },
      (err: unknown) => {
        this.#gpuInFlight = false;
        this.#onError(err);
      },
    );
  }
}
