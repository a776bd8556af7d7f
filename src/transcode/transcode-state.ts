/**
 * The transcoder's per-stream figures, as the registry carries them for gRPC
 * and metrics. Types only, importing only leaf modules: the registry can name
 * them without depending on the transcoder.
 */
import type { EncoderKind } from './ffmpeg-args.ts';
import type { Rung } from './ladder.ts';
import type { FfmpegProgress } from './progress.ts';

/** A stream's switch from a hardware encoder to x264 while running. */
export interface EncoderFallback {
  from: EncoderKind;
  reason: string;
}

/** What GetRoutes and the log say of a stream's passthrough decision. */
export interface PassthroughState {
  /** measuring: the first seconds are being measured; on: the top rung is the source; off: every rung is encoded. */
  status: 'measuring' | 'on' | 'off';
  /** Why it is off. */
  reason?: string;
  /** The rung the source stands as, when on. */
  rung?: string;
  /** Video bitrate measured over the first seconds, kbps. */
  measuredKbps?: number;
}

/** What caps a stream's rung bitrates (issue 15): the source's video bitrate, measured over the measuring window or, failing that, as onMetaData declares it. */
export interface BitrateCap {
  kbps: number;
  from: 'measured' | 'declared';
}

/** What the transcoder reports per stream (gRPC and metrics read it). */
export interface TranscodeState {
  status: 'starting' | 'encoding' | 'complete' | 'error';
  rungs: readonly Rung[];
  /** The encoder this stream runs now (x264 after a fallback). */
  encoder: EncoderKind;
  /** Set once the stream has fallen back from a hardware encoder to x264. */
  fallback: EncoderFallback | undefined;
  progress: FfmpegProgress | undefined;
  restarts: number;
  droppedGops: number;
  droppedFrames: number;
  /** Source timestamps that jumped back or far ahead, smoothed over by the feed. */
  timestampJumps?: number;
  error: string | undefined;
  /** What capped the rungs' bitrates in the current plan; undefined with no video, or no cap (nothing measured or declared). */
  bitrateCap?: BitrateCap | undefined;
  /** The passthrough decision (issue 15): measuring, on (rungs[0] is the source), or off and why. Undefined with passthrough disabled. */
  passthrough?: PassthroughState;
}
