/**
 * Stream capacity as a load balancer needs it to place the next stream: free
 * slots under limits.maxStreams, and encoder headroom from the speed ffmpeg
 * measures. Pure functions over the live streams; health (src/grpc) and
 * /metrics both read them.
 */

/** Encoders are judged on their speed only after this much encoding (ffmpeg's speed settles). */
export const SPEED_WARMUP_MS = 10_000;

/** What capacity reads of one live stream (a StreamEntry satisfies it). */
export interface EncodingStream {
  readonly startedAt: number;
  readonly transcode:
    | { readonly status: string; readonly progress: { readonly speed: number } | undefined }
    | undefined;
}

/** What a load balancer needs to place the next stream. */
export interface Capacity {
  /** limits.maxStreams. */
  maxStreams: number;
  /** Streams being published now. */
  activeStreams: number;
  /** Streams whose transcoder is encoding or starting a run (a restart, a fallback to x264 included). */
  encodingStreams: number;
  /**
   * The lowest encoding speed (multiple of realtime) among streams encoding
   * past their warm-up: above 1 every encoder keeps up with room to spare;
   * undefined when none is encoding past its warm-up.
   */
  slowestEncoderSpeed: number | undefined;
}

/** The lowest speed among streams encoding past the warm-up, undefined when none reports one. */
export function slowestEncoderSpeed(streams: readonly EncodingStream[], now: number): number | undefined {
  let lowest: number | undefined;
  for (const s of streams) {
    const speed = s.transcode?.progress?.speed;
    if (s.transcode?.status !== 'encoding' || now - s.startedAt < SPEED_WARMUP_MS || speed === undefined || !(speed > 0)) continue;
    lowest = lowest === undefined ? speed : Math.min(lowest, speed);
  }
  return lowest;
}

/** Capacity from the limit and the live streams. */
export function capacityOf(maxStreams: number, streams: readonly EncodingStream[], now: number): Capacity {
  const encodingStreams = streams.filter((s) => s.transcode?.status === 'encoding' || s.transcode?.status === 'starting').length;
  return { maxStreams, activeStreams: streams.length, encodingStreams, slowestEncoderSpeed: slowestEncoderSpeed(streams, now) };
}

/** Free stream slots: limits.maxStreams less the live streams, never negative. */
export function freeSlots(c: Capacity): number {
  return Math.max(0, c.maxStreams - c.activeStreams);
}

/**
 * "97 of 100 stream slots free, slowest encoder at 1.45x realtime"; "…, 1
 * stream encoding, speed not measured yet" while every encoding stream is in
 * its warm-up (a fallback to x264 restarts it); "…, no stream encoding".
 */
export function describeCapacity(c: Capacity): string {
  const encoding = `${c.encodingStreams} stream${c.encodingStreams === 1 ? '' : 's'} encoding`;
  const encoder =
    c.slowestEncoderSpeed !== undefined
      ? `slowest encoder at ${c.slowestEncoderSpeed.toFixed(2)}x realtime`
      : c.encodingStreams > 0
        ? `${encoding}, speed not measured yet`
        : 'no stream encoding';
  return `${freeSlots(c)} of ${c.maxStreams} stream slots free, ${encoder}`;
}
