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
import { evaluateHealth, formatUptime, slowEncoders, streamMetrics, streamRoutes, type HealthInputs } from './module-figures.ts';

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
  /** Whole-service CPU, memory (ffmpeg children included) and GPU use. */
  system(): Promise<SystemSample>;
  /** Directory whose filesystem holds the output (for the disk-full rule). */
  outputDir: string | undefined;
  now?: () => number;
}

/**
 * The four ModuleService RPCs of the spec, computed from measured sources
 * (module name "rtmp-proxy", version from package.json). No gRPC here: the
 * adapter turns these into grpc-js handlers.
 */
export class ModuleServiceHandlers {
  readonly #s: ModuleSources;
  readonly #now: () => number;

  constructor(sources: ModuleSources) {
    this.#s = sources;
    this.#now = sources.now ?? Date.now;
  }

  async #health() {
    const now = this.#now();
    const streams = this.#s.streams();
    const sample = await this.#s.system();
    const encoder = this.#s.encoder?.();
    const inputs: HealthInputs = {
      rtmpListening: this.#s.rtmpListening(),
      ffmpegUsable: this.#s.ffmpegUsable(),
      encoder: encoder?.summary,
      encoderUsable: encoder?.usable ?? true,
      encoderFallbacks: streams.flatMap((s) => {
        const f = s.transcode?.fallback;
        return f === undefined ? [] : [{ key: s.key, from: f.from, reason: f.reason }];
      }),
      cpuPercent: sample.cpuPercent,
      diskUsedFraction: await diskUsed(this.#s.outputDir),
      streamErrors: streams.filter((s) => s.error !== undefined).map((s) => ({ key: s.key, error: s.error! })),
      slowEncoders: slowEncoders(streams, now),
      draining: this.#s.draining(),
    };
    return evaluateHealth(inputs);
  }

  async getStatus(): Promise<MessageInitShape<typeof StatusResponseSchema>> {
    const totals = this.#s.totals();
    return {
      moduleName: 'rtmp-proxy',
      version: this.#s.version,
      status: (await this.#health()).status,
      activeStreams: this.#s.streams().length,
      totalBytesIn: BigInt(totals.bytesIn),
      totalBytesOut: BigInt(totals.bytesOut),
      uptime: formatUptime(this.#now() - this.#s.startedAt),
    };
  }

  async getRoutes(): Promise<MessageInitShape<typeof RoutesResponseSchema>> {
    return { routes: streamRoutes(this.#s.streams(), this.#now()) };
  }

  async getMetrics(): Promise<MessageInitShape<typeof MetricsResponseSchema>> {
    const sample = await this.#s.system();
    return {
      cpuPercent: Math.round(sample.cpuPercent),
      gpuPercent: Math.round(sample.gpuPercent),
      memoryMb: Math.round(sample.memoryMb),
      streams: streamMetrics(this.#s.streams(), this.#now()),
    };
  }

  async healthCheck(): Promise<MessageInitShape<typeof HealthCheckResponseSchema>> {
    const t0 = performance.now();
    const health = await this.#health();
    return { ...health, responseTimeMs: Math.round(performance.now() - t0) };
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
