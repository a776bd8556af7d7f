import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { TranscodeState } from '../transcode/transcode-state.ts';
import { capacityOf, freeSlots, type Capacity } from './capacity.ts';
import type { SystemSample } from './system.ts';

/** What the metrics read of one live stream (a StreamEntry satisfies it). */
export interface MetricsStream {
  readonly key: string;
  /** When the stream was published (ms since the epoch), for the encoder warm-up. */
  readonly startedAt: number;
  /** Input bitrate in bit/s over the registry's window. */
  bitrate(now: number): number;
  readonly transcode: Readonly<Pick<TranscodeState, 'status' | 'progress' | 'restarts' | 'droppedGops' | 'droppedFrames'>> | undefined;
}

/** What the metrics read of the stream registry (a StreamRegistry satisfies it). */
export interface MetricsStreamSource {
  readonly size: number;
  list(): readonly MetricsStream[];
  readonly refusals: ReadonlyMap<string, number>;
  readonly totalBytesIn: number;
  readonly totalBytesOut: number;
}

/** Dependencies of createMetrics. */
export interface MetricsDeps {
  registry: MetricsStreamSource;
  http: { readonly stats: { readonly bytesOut: number } };
  /** A SystemSampler: its latest CPU, memory and GPU sample (a scrape never measures anything itself). */
  system: { latest(): SystemSample };
  /** limits.maxStreams, for the stream-slot gauges; absent: no capacity gauges. */
  maxStreams?: number;
  /** ffmpeg restarts over every stream since start, ended streams included. */
  ffmpegRestarts?: () => number;
  /** Failed authentications since start by kind (`publish`, `play`) and reason (src/auth/failures.ts). */
  authFailures?: () => readonly { readonly kind: string; readonly reason: string; readonly count: number }[];
  /** RTMP connections refused at accept since start, by reason (per-address limits). */
  connectionsRefused?: () => ReadonlyMap<string, number>;
  /** Clock for the bitrate window. Default `Date.now`. */
  now?: () => number;
}

/** The metrics registry and its `GET /metrics` handler. */
export interface Metrics {
  registry: Registry;
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

const PREFIX = 'proxy_rtmp_';

/**
 * Builds the Prometheus metrics on a private registry (no prom-client global):
 * every value is read at scrape time in `collect()`, and per-stream gauges are
 * reset first so that the series of an ended stream disappear. Counters are
 * totals kept elsewhere, so collect() sets them (reset, then inc by the total).
 * Adds prom-client's default process/Node.js metrics to the same registry.
 */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const now = deps.now ?? Date.now;
  // The event-loop lag histogram samples every 10 ms by default: ~2 ms of CPU per second on an
  // idle box. Once a second is plenty for a scrape every few seconds (bench/README.md).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });

  const setTotal = (counter: Counter, value: number): void => {
    counter.reset();
    counter.inc(value);
  };

  /** A per-stream gauge or counter filled from each live stream; streams without a value get no series. */
  const perStream = (
    metric: 'gauge' | 'counter',
    name: string,
    help: string,
    read: (s: MetricsStream, at: number) => number | undefined,
  ): void => {
    const collect = function (this: Gauge<'key'> | Counter<'key'>): void {
      this.reset();
      const at = now();
      for (const stream of deps.registry.list()) {
        const value = read(stream, at);
        if (value === undefined || !Number.isFinite(value)) continue;
        if (this instanceof Gauge) this.set({ key: stream.key }, value);
        else this.inc({ key: stream.key }, Math.max(0, value));
      }
    };
    const config = { name: PREFIX + name, help, labelNames: ['key'] as const, registers, collect };
    if (metric === 'gauge') new Gauge(config);
    else new Counter(config);
  };

  new Gauge({
    name: `${PREFIX}active_streams`,
    help: 'Streams being published now.',
    registers,
    collect() {
      this.set(deps.registry.size);
    },
  });
  new Counter({
    name: `${PREFIX}bytes_in_total`,
    help: 'RTMP bytes received on every connection since start.',
    registers,
    collect() {
      setTotal(this, deps.registry.totalBytesIn);
    },
  });
  new Counter({
    name: `${PREFIX}bytes_out_total`,
    help: 'Bytes sent since start: RTMP plus HTTP (HLS/DASH) responses.',
    registers,
    collect() {
      setTotal(this, deps.registry.totalBytesOut + deps.http.stats.bytesOut);
    },
  });
  new Counter({
    name: `${PREFIX}refusals_total`,
    help: 'Publishes or streams refused, by reason.',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of deps.registry.refusals) this.inc({ reason }, count);
    },
  });

  if (deps.authFailures !== undefined) {
    const read = deps.authFailures;
    new Counter({
      name: `${PREFIX}auth_failures_total`,
      help: 'Failed authentications: publishes (RTMP) and playback requests (HTTP), by reason.',
      labelNames: ['kind', 'reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const { kind, reason, count } of read()) this.inc({ kind, reason }, count);
      },
    });
  }
  if (deps.connectionsRefused !== undefined) {
    const read = deps.connectionsRefused;
    new Counter({
      name: `${PREFIX}connections_refused_total`,
      help: 'RTMP connections closed at accept by the per-address limits, by reason.',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of read()) this.inc({ reason }, count);
      },
    });
  }

  perStream('gauge', 'stream_input_bitrate_bps', 'Input bitrate of the stream, bit/s over the sliding window.', (s, at) => s.bitrate(at));
  perStream('gauge', 'stream_fps', 'Frames per second ffmpeg reports encoding.', (s) => s.transcode?.progress?.fps);
  perStream('gauge', 'stream_encoder_speed', 'ffmpeg encoding speed as a multiple of realtime.', (s) => s.transcode?.progress?.speed);
  perStream(
    'gauge',
    'stream_dropped_frames',
    'Frames dropped: by the current ffmpeg run plus by the GOP feed when ffmpeg fell behind.',
    (s) => (s.transcode === undefined ? undefined : (s.transcode.progress?.dropFrames ?? 0) + s.transcode.droppedFrames),
  );
  perStream('gauge', 'stream_dropped_gops', 'Whole GOPs the feed dropped because ffmpeg fell behind.', (s) => s.transcode?.droppedGops);
  perStream('counter', 'ffmpeg_restarts_total', "Restarts of the stream's ffmpeg since publish.", (s) => s.transcode?.restarts);

  if (deps.ffmpegRestarts !== undefined) {
    const read = deps.ffmpegRestarts;
    new Counter({
      name: `${PREFIX}ffmpeg_restarts_all_streams_total`,
      help: 'ffmpeg restarts over every stream since start, ended streams included.',
      registers,
      collect() {
        setTotal(this, read());
      },
    });
  }

  /** A gauge of the latest system sample; a figure the sample does not report gives no series. */
  const systemGauge = (name: string, help: string, read: (s: SystemSample) => number | undefined): void => {
    new Gauge({
      name: PREFIX + name,
      help,
      registers,
      collect() {
        const value = read(deps.system.latest());
        // An unlabelled gauge reset() reads 0; remove() drops the series.
        if (value === undefined) this.remove({});
        else this.set(value);
      },
    });
  };
  systemGauge('process_cpu_percent', 'CPU of this process and its ffmpeg children over the sampling window, % of the whole machine (100 = every core).', (s) => s.cpuPercent);
  systemGauge('process_memory_mb', 'Resident memory of this process and its ffmpeg children, MiB.', (s) => s.memoryMb);
  systemGauge('machine_cpu_percent', 'CPU of the whole machine over the sampling window, % (100 = every core).', (s) => s.machineCpuPercent);
  systemGauge('gpu_encoder_percent', 'Video encoder (NVENC) utilisation, % mean over the GPUs that report it.', (s) => s.gpuEncoderPercent);
  systemGauge('gpu_decoder_percent', 'Video decoder (NVDEC) utilisation, % mean over the GPUs that report it.', (s) => s.gpuDecoderPercent);

  if (deps.maxStreams !== undefined) {
    const maxStreams = deps.maxStreams;
    const capacity = (): Capacity => capacityOf(maxStreams, deps.registry.list(), now());
    new Gauge({
      name: `${PREFIX}stream_slots`,
      help: 'Streams this server accepts at once (limits.maxStreams).',
      registers,
      collect() {
        this.set(maxStreams);
      },
    });
    new Gauge({
      name: `${PREFIX}stream_slots_free`,
      help: 'Streams that may still be published: limits.maxStreams less the live streams.',
      registers,
      collect() {
        this.set(freeSlots(capacity()));
      },
    });
    new Gauge({
      name: `${PREFIX}encoder_speed_min`,
      help: 'Lowest encoding speed among streams encoding past their warm-up, multiple of realtime (above 1: headroom); absent when none encodes.',
      registers,
      collect() {
        const speed = capacity().slowestEncoderSpeed;
        if (speed === undefined) this.remove({});
        else this.set(speed);
      },
    });
  }

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = await registry.metrics();
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`cannot collect metrics: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': registry.contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return { registry, handler };
}
