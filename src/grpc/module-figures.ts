import type { StreamEntry } from '../streams/registry.ts';

/**
 * The ModuleService figures as plain values, computed from the registry and
 * the monitors: pure functions, so every rule is table-tested without gRPC.
 * Field names follow protobuf-es's camelCase of the spec's messages.
 */

/** Formats a duration like Go's time.Duration.String(), to whole seconds: "0s", "45s", "2m3s", "2h45m30s", "1h0m0s". */
export function formatUptime(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Health levels of the spec. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What health is judged from. */
export interface HealthInputs {
  /** The RTMP listener accepts connections. */
  rtmpListening: boolean;
  /** A usable ffmpeg was found (or transcoding is off). */
  ffmpegUsable: boolean;
  /**
   * The start-up encoder detection in one line ("encoder nvenc", "encoder x264
   * (nvenc: … | qsv: …)", "no working encoder (…)"); undefined when transcoding is off.
   */
  encoder: string | undefined;
  /** Detection found an encoder that works (or transcoding is off); false when not even x264 encodes. */
  encoderUsable: boolean;
  /** Streams that fell back from a hardware encoder to x264 while running. */
  encoderFallbacks: readonly { key: string; from: string; reason: string }[];
  /** Whole-machine CPU use, 0-100. */
  cpuPercent: number;
  /** Fraction of the output filesystem in use, 0-1 (undefined: unknown). */
  diskUsedFraction: number | undefined;
  /** Streams whose status is error, with the reason. */
  streamErrors: readonly { key: string; error: string }[];
  /** Encoders running slower than realtime (speed < 1 after their warm-up). */
  slowEncoders: readonly { key: string; speed: number }[];
  /** Server is draining (SIGTERM received). */
  draining: boolean;
}

/** Thresholds of the degraded state. */
export const CPU_DEGRADED_PERCENT = 90;
export const DISK_DEGRADED_FRACTION = 0.9;

/**
 * The spec's HealthCheck rules: unhealthy when ingest cannot work (listener
 * down, no usable ffmpeg or no encoder that works, draining); degraded on
 * CPU ≥ 90%, disk ≥ 90% full, an encoder slower than realtime, a stream in
 * error or a stream that fell back from its hardware encoder to x264; else
 * healthy. Every cause becomes one line of `errors`; the message ends with the
 * encoder detection's result when transcoding is on.
 */
export function evaluateHealth(h: HealthInputs): { status: HealthStatus; message: string; errors: string[] } {
  const fatal: string[] = [];
  if (!h.rtmpListening) fatal.push('RTMP listener is down');
  if (!h.ffmpegUsable) fatal.push('no usable ffmpeg');
  else if (!h.encoderUsable) fatal.push('no working video encoder, not even x264');
  if (h.draining) fatal.push('server is shutting down');
  const warnings: string[] = [];
  if (h.cpuPercent >= CPU_DEGRADED_PERCENT) warnings.push(`CPU usage at ${Math.round(h.cpuPercent)}%`);
  if (h.diskUsedFraction !== undefined && h.diskUsedFraction >= DISK_DEGRADED_FRACTION) {
    warnings.push(`output disk ${Math.round(h.diskUsedFraction * 100)}% full`);
  }
  for (const s of h.slowEncoders) warnings.push(`stream ${s.key}: encoder at ${s.speed.toFixed(2)}x, slower than realtime`);
  for (const s of h.streamErrors) warnings.push(`stream ${s.key}: ${s.error}`);
  for (const s of h.encoderFallbacks) warnings.push(`stream ${s.key}: ${s.from} failed (${s.reason}), fell back to x264`);
  const withEncoder = (message: string) => (h.encoder === undefined ? message : `${message}; ${h.encoder}`);
  if (fatal.length > 0) return { status: 'unhealthy', message: withEncoder(fatal[0]!), errors: [...fatal, ...warnings] };
  if (warnings.length > 0) {
    const message = warnings.length === 1 ? warnings[0]! : `${warnings.length} problems: ${warnings[0]!}; …`;
    return { status: 'degraded', message: withEncoder(message), errors: warnings };
  }
  return { status: 'healthy', message: withEncoder('All systems operational'), errors: [] };
}

/** Encoders are judged slow only after this much encoding (ffmpeg's speed settles). */
export const SPEED_WARMUP_MS = 10_000;

/** Streams whose ffmpeg runs slower than realtime after the warm-up. */
export function slowEncoders(streams: readonly StreamEntry[], now: number): { key: string; speed: number }[] {
  return streams
    .filter((s) => s.transcode?.status === 'encoding' && now - s.startedAt >= SPEED_WARMUP_MS)
    .map((s) => ({ key: s.key, speed: s.transcode?.progress?.speed ?? 0 }))
    .filter((s) => s.speed > 0 && s.speed < 0.95);
}

/** TranscodeProfile.status from the transcoder state. */
function profileStatus(s: StreamEntry): 'encoding' | 'complete' | 'error' {
  const status = s.transcode?.status;
  if (status === 'error') return 'error';
  if (status === 'complete') return 'complete';
  return 'encoding';
}

/** Encoder names as the spec spells them. */
const ENCODER_NAMES = { x264: 'x264', nvenc: 'nvenc_h264', qsv: 'qsv_h264', vaapi: 'vaapi_h264' } as const;

/** One StreamRoute (spec "GetRoutes") per live stream. */
export function streamRoutes(streams: readonly StreamEntry[], now: number) {
  return streams.map((s) => ({
    streamKey: s.key,
    source: s.sourceUrl,
    status: s.status(now),
    encoder: s.transcode === undefined ? 'none' : ENCODER_NAMES[s.transcode.encoder],
    inputBitrate: Math.round(s.bitrate(now) / 1000),
    inputResolution: s.height ?? 0,
    bytesProcessed: BigInt(s.bytesIn),
    profiles: (s.transcode?.rungs ?? []).map((r) => ({
      name: r.name,
      codec: r.codec,
      bitrate: r.bitrateKbps,
      resolution: r.height,
      status: profileStatus(s),
    })),
  }));
}

/** One StreamMetrics (spec "GetMetrics") per live stream. */
export function streamMetrics(streams: readonly StreamEntry[], now: number) {
  return streams.map((s) => {
    const p = s.transcode?.progress;
    return {
      streamKey: s.key,
      fps: p?.fps ?? 0,
      duration: (now - s.startedAt) / 1000,
      droppedFrames: (p?.dropFrames ?? 0) + (s.transcode?.droppedFrames ?? 0),
      // int32 in the contract: the speed factor rounded (1.49x → 1).
      encoderSpeed: Math.round(p?.speed ?? 0),
    };
  });
}
