import type { StreamEntry } from '../streams/registry.ts';
import { describeCapacity, freeSlots, SPEED_WARMUP_MS, type Capacity } from '../metrics/capacity.ts';
import type { DropEpisode, DropReport } from './drop-history.ts';
import { describeActive, isoSeconds, type ActiveCondition, type HealthCondition } from './health-hysteresis.ts';

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
  /** Stream capacity for the message and the no-slot rule; omitted when unknown. */
  capacity?: Capacity;
  /** The encoder probe of start-up is still running (listeners are up; transcoders wait for it). */
  starting?: boolean;
  /** GOPs dropped because ffmpeg fell behind: runs going on, and runs over within the last minutes. */
  gopDrops?: DropReport;
}

/** The first words of the message and of the `errors` line while the encoder probe runs. */
export const STARTING_TEXT = 'starting: proving the video encoder by test encodes';

/** "6 GOPs (180 video frames)". */
function dropCount(e: DropEpisode): string {
  return `${e.gops} GOP${e.gops === 1 ? '' : 's'} (${e.frames} video frame${e.frames === 1 ? '' : 's'})`;
}

/** A drop run that is over, for the message: "stream cam dropped 6 GOPs (180 video frames) between 2026-…Z and 2026-…Z". */
export function describeRecoveredDrops(e: DropEpisode): string {
  return `stream ${e.key} dropped ${dropCount(e)} between ${isoSeconds(e.from)} and ${isoSeconds(e.to)}`;
}

/** Thresholds of the degraded state. */
export const CPU_DEGRADED_PERCENT = 90;
export const DISK_DEGRADED_FRACTION = 0.9;

/**
 * The spec's HealthCheck rules, as conditions with stable ids: unhealthy when
 * ingest cannot work (listener down, no usable ffmpeg or no encoder that
 * works, draining) and while the encoder probe of start-up runs; degraded on
 * CPU ≥ 90%, disk ≥ 90% full, an encoder slower than realtime, GOPs being
 * dropped, a stream in error, a stream that fell back from its hardware
 * encoder to x264, or no stream slot left. The unhealthy ones, the slot rule,
 * GOP drops and a fallback (which lasts as long as its stream) are facts and
 * marked `immediate`; the rest are measurements that {@link HealthHysteresis}
 * holds back until they persist. Start-up and GOP drops are `transient`: they
 * clear the moment the probe ends, or the run of drops is over.
 */
export function healthConditions(h: HealthInputs): HealthCondition[] {
  const out: HealthCondition[] = [];
  const fatal = (id: string, text: string) => out.push({ id, level: 'unhealthy', text, immediate: true });
  if (h.starting === true) out.push({ id: 'starting', level: 'unhealthy', text: STARTING_TEXT, immediate: true, transient: true });
  if (!h.rtmpListening) fatal('rtmp-down', 'RTMP listener is down');
  if (!h.ffmpegUsable) fatal('no-ffmpeg', 'no usable ffmpeg');
  else if (!h.encoderUsable) fatal('no-encoder', 'no working video encoder, not even x264');
  if (h.draining) fatal('draining', 'server is shutting down');
  const degraded = (id: string, text: string, immediate = false) => out.push({ id, level: 'degraded', text, ...(immediate ? { immediate } : {}) });
  if (h.cpuPercent >= CPU_DEGRADED_PERCENT) degraded('cpu', `CPU usage at ${Math.round(h.cpuPercent)}%`);
  if (h.diskUsedFraction !== undefined && h.diskUsedFraction >= DISK_DEGRADED_FRACTION) {
    degraded('disk', `output disk ${Math.round(h.diskUsedFraction * 100)}% full`);
  }
  if (h.capacity !== undefined && freeSlots(h.capacity) === 0) {
    degraded('no-slot', `no stream slot free (${h.capacity.activeStreams} streams, limit ${h.capacity.maxStreams})`, true);
  }
  for (const s of h.slowEncoders) degraded(`slow:${s.key}`, `stream ${s.key}: encoder at ${s.speed.toFixed(2)}x, slower than realtime`);
  // The run of drops ends after 10 s without one (DropHistory): that is its hold, so it clears at once, and the message then says it was.
  for (const e of h.gopDrops?.ongoing ?? []) {
    out.push({ id: `drops:${e.key}`, level: 'degraded', text: `stream ${e.key}: ffmpeg fell behind, ${dropCount(e)} dropped`, immediate: true, transient: true });
  }
  for (const s of h.streamErrors) degraded(`error:${s.key}`, `stream ${s.key}: ${s.error}`);
  for (const s of h.encoderFallbacks) degraded(`fallback:${s.key}`, `stream ${s.key}: ${s.from} failed (${s.reason}), fell back to x264`, true);
  return out;
}

/** A health answer: status, message and one `errors` line per cause. */
export interface HealthVerdict {
  status: HealthStatus;
  message: string;
  errors: string[];
}

/**
 * The answer from the conditions being reported: unhealthy before degraded,
 * each condition one line of `errors` (with "since …" when it carries a
 * start time), the message the first cause (or "All systems operational"),
 * then GOP drops that are over ("recovered: stream … dropped … between …"),
 * the capacity and the encoder detection's result when known.
 */
export function summarizeHealth(
  conditions: readonly (HealthCondition | ActiveCondition)[],
  context: Pick<HealthInputs, 'encoder' | 'capacity' | 'gopDrops'>,
): HealthVerdict {
  const line = (c: HealthCondition | ActiveCondition): string => ('since' in c ? describeActive(c) : c.text);
  const fatal = conditions.filter((c) => c.level === 'unhealthy').map(line);
  const warnings = conditions.filter((c) => c.level === 'degraded').map(line);
  const recovered = (context.gopDrops?.recent ?? []).map((e) => `recovered: ${describeRecoveredDrops(e)}`);
  const tail = [...recovered, context.capacity === undefined ? undefined : describeCapacity(context.capacity), context.encoder].filter((t) => t !== undefined);
  const withTail = (message: string) => [message, ...tail].join('; ');
  if (fatal.length > 0) return { status: 'unhealthy', message: withTail(fatal[0]!), errors: [...fatal, ...warnings] };
  if (warnings.length > 0) {
    const message = warnings.length === 1 ? warnings[0]! : `${warnings.length} problems: ${warnings[0]!}; …`;
    return { status: 'degraded', message: withTail(message), errors: warnings };
  }
  return { status: 'healthy', message: withTail('All systems operational'), errors: [] };
}

/** The rules applied to one moment, without hysteresis: {@link healthConditions} then {@link summarizeHealth}. */
export function evaluateHealth(h: HealthInputs): HealthVerdict {
  return summarizeHealth(healthConditions(h), h);
}

export { SPEED_WARMUP_MS };

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

/**
 * StreamRoute.encoder: `none` without transcoding; the encoder of the rungs
 * (x264, nvenc_h264, …); `copy+<encoder>` when the top rung is the source
 * passed through (packaged as it came, issue 15) and the rest are encoded.
 */
function encoderName(s: StreamEntry): string {
  const t = s.transcode;
  if (t === undefined) return 'none';
  return t.passthrough?.status === 'on' ? `copy+${ENCODER_NAMES[t.encoder]}` : ENCODER_NAMES[t.encoder];
}

/** One StreamRoute (spec "GetRoutes") per live stream. */
export function streamRoutes(streams: readonly StreamEntry[], now: number) {
  return streams.map((s) => ({
    streamKey: s.key,
    source: s.sourceUrl,
    status: s.status(now),
    encoder: encoderName(s),
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
      // As ingested, whether the stream is transcoded or not (issue 16): what the publisher sends, not what ffmpeg keeps up with (encoder_speed says that).
      fps: Math.round(s.ingestFps * 100) / 100,
      duration: (now - s.startedAt) / 1000,
      droppedFrames: (p?.dropFrames ?? 0) + (s.transcode?.droppedFrames ?? 0),
      // int32 in the contract: the speed factor rounded (1.49x → 1).
      encoderSpeed: Math.round(p?.speed ?? 0),
    };
  });
}
