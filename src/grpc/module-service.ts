import { statfs } from 'node:fs/promises';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  HealthCheckResponseSchema,
  MetricsResponseSchema,
  RoutesResponseSchema,
  StatusResponseSchema,
} from '../gen/marchproxy/module/v1/module_pb.ts';
import type { SystemSample } from '../metrics/system.ts';
import type { StreamEntry } from '../streams/registry.ts';
import { capacityOf, type Capacity } from '../metrics/capacity.ts';
import { DropHistory, type DropHistoryOptions } from './drop-history.ts';
import { HealthHysteresis, type HysteresisOptions } from './health-hysteresis.ts';
import {
  formatUptime,
  healthConditions,
  slowEncoders,
  streamMetrics,
  streamRoutes,
  summarizeHealth,
  type HealthInputs,
  type HealthVerdict,
} from './module-figures.ts';

/** The latest system sample, and a signal for each new one (a SystemSampler satisfies it). */
export interface SampleFeed {
  latest(): SystemSample;
  on(event: 'sample', listener: (sample: SystemSample, at: number) => void): unknown;
}

/** What the ModuleService reads; app.ts passes the real components. */
export interface ModuleSources {
  version: string;
  startedAt: number;
  streams(): StreamEntry[];
  totals(): { bytesIn: number; bytesOut: number };
  rtmpListening(): boolean;
  ffmpegUsable(): boolean;
  /** The start-up encoder detection (app.ts: describeDetection); absent or undefined when transcoding is off. */
  encoder?(): { summary: string; usable: boolean } | undefined;
  draining(): boolean;
  /** True while the encoder probe of start-up runs (absent: never). */
  starting?(): boolean;
  /** Whole-service CPU, memory (ffmpeg children included) and GPU use, sampled in the background. */
  system: SampleFeed;
  /** limits.maxStreams, for the free slots; absent: capacity is not reported. */
  maxStreams?: number;
  /** Directory whose filesystem holds the output (for the disk-full rule). */
  outputDir: string | undefined;
  /** Hold times of the health hysteresis (default 5 s each). */
  hysteresis?: HysteresisOptions;
  /** How long GOP drops count as one run, and how long one that is over stays in the message (default 10 s, 5 min). */
  drops?: DropHistoryOptions;
  now?: () => number;
}

/** One health evaluation with the capacity it saw. */
export interface HealthReport extends HealthVerdict {
  capacity: Capacity | undefined;
  /** The encoder probe of start-up was still running. */
  starting: boolean;
  at: number;
}

/**
 * The four ModuleService RPCs of the spec, computed from measured sources
 * (module name "rtmp-proxy", version from package.json). No gRPC here: the
 * adapter turns these into grpc-js handlers.
 *
 * Health is judged on every system sample (once a second) and on every
 * request, through one {@link HealthHysteresis}, from figures already in
 * memory: a request reads the sampler's latest sample and the disk figure the
 * last sample refreshed, so it never walks /proc, spawns or awaits I/O.
 * The CPU rule uses the whole machine's CPU where known (the streams suffer
 * whoever loads the box), else this process tree's.
 */
export class ModuleServiceHandlers {
  readonly #s: ModuleSources;
  readonly #now: () => number;
  readonly #hysteresis: HealthHysteresis;
  readonly #drops: DropHistory;
  readonly #listeners: ((report: HealthReport) => void)[] = [];
  #diskUsed: number | undefined;

  constructor(sources: ModuleSources) {
    this.#s = sources;
    this.#now = sources.now ?? Date.now;
    this.#hysteresis = new HealthHysteresis(sources.hysteresis);
    this.#drops = new DropHistory(sources.drops);
    sources.system.on('sample', () => void this.observe());
  }

  /** Calls `listener` with every health evaluation (GrpcServer: grpc.health NOT_SERVING when no slot is left). */
  onReport(listener: (report: HealthReport) => void): void {
    this.#listeners.push(listener);
  }

  /** Refreshes the disk figure, then evaluates health; run on each system sample. */
  async observe(): Promise<HealthReport> {
    this.#diskUsed = await diskUsed(this.#s.outputDir);
    return this.report();
  }

  /** Evaluates health now from the figures in memory (no I/O) and tells the listeners. */
  report(): HealthReport {
    const now = this.#now();
    const streams = this.#s.streams();
    const sample = this.#s.system.latest();
    const encoder = this.#s.encoder?.();
    const capacity: Capacity | undefined =
      this.#s.maxStreams === undefined
        ? undefined
        : capacityOf(this.#s.maxStreams, streams, now);
    const starting = this.#s.starting?.() ?? false;
    const inputs: HealthInputs = {
      starting,
      gopDrops: this.#drops.update(streams, now),
      rtmpListening: this.#s.rtmpListening(),
      ffmpegUsable: this.#s.ffmpegUsable(),
      encoder: encoder?.summary,
      encoderUsable: encoder?.usable ?? true,
      encoderFallbacks: streams.flatMap((s) => {
        const f = s.transcode?.fallback;
        return f === undefined ? [] : [{ key: s.key, from: f.from, reason: f.reason }];
      }),
      cpuPercent: sample.machineCpuPercent ?? sample.cpuPercent,
      diskUsedFraction: this.#diskUsed,
      streamErrors: streams.filter((s) => s.error !== undefined).map((s) => ({ key: s.key, error: s.error! })),
      slowEncoders: slowEncoders(streams, now),
      draining: this.#s.draining(),
      ...(capacity === undefined ? {} : { capacity }),
    };
    const active = this.#hysteresis.update(healthConditions(inputs), now);
    const report: HealthReport = { ...summarizeHealth(active, inputs), capacity, starting, at: now };
    for (const listener of this.#listeners) {
      try {
        listener(report);
      } catch {
        // A listener must not break the RPC that triggered the evaluation.
      }
    }
    return report;
  }

  async getStatus(): Promise<MessageInitShape<typeof StatusResponseSchema>> {
    const totals = this.#s.totals();
    return {
      moduleName: 'rtmp-proxy',
      version: this.#s.version,
      status: this.report().status,
      activeStreams: this.#s.streams().length,
      totalBytesIn: BigInt(totals.bytesIn),
      totalBytesOut: BigInt(totals.bytesOut),
      uptime: formatUptime(this.#now() - this.#s.startedAt),
    };
  }

  async getRoutes(): Promise<MessageInitShape<typeof RoutesResponseSchema>> {
    return { routes: streamRoutes(this.#s.streams(), this.#now()) };
  }

  /**
   * cpu_percent is this process and its ffmpeg children (share of the
   * machine); gpu_percent the video engines' load (the busier of NVENC and
   * NVDEC) where the driver reports it, else the GPU's overall utilisation.
   */
  async getMetrics(): Promise<MessageInitShape<typeof MetricsResponseSchema>> {
    const sample = this.#s.system.latest();
    const engines = [sample.gpuEncoderPercent, sample.gpuDecoderPercent].filter((v) => v !== undefined);
    return {
      cpuPercent: Math.round(sample.cpuPercent),
      gpuPercent: Math.round(engines.length > 0 ? Math.max(...engines) : sample.gpuPercent),
      memoryMb: Math.round(sample.memoryMb),
      streams: streamMetrics(this.#s.streams(), this.#now()),
    };
  }

  async healthCheck(): Promise<MessageInitShape<typeof HealthCheckResponseSchema>> {
    const t0 = performance.now();
    const { status, message, errors } = this.report();
    return { status, message, errors, responseTimeMs: Math.round(performance.now() - t0) };
  }
}

/** Fraction of the filesystem holding `dir` in use, or undefined when unknown. */
async function diskUsed(dir: string | undefined): Promise<number | undefined> {
  if (dir === undefined) return undefined;
  try {
    const s = await statfs(dir);
    return s.blocks === 0 ? undefined : 1 - s.bavail / s.blocks;
  } catch {
    return undefined;
  }
}
