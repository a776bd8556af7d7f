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
  /**
   * The lowest encoding speed (multiple of realtime) among streams encoding
   * past their warm-up: above 1 every encoder keeps up with room to spare;
   * undefined when none is encoding.
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
  return { maxStreams, activeStreams: streams.length, slowestEncoderSpeed: slowestEncoderSpeed(streams, now) };
}

/** Free stream slots: limits.maxStreams less the live streams, never negative. */
export function freeSlots(c: Capacity): number {
  return Math.max(0, c.maxStreams - c.activeStreams);
}

/** "97 of 100 stream slots free, slowest encoder at 1.45x realtime" (or "no stream encoding"). */
export function describeCapacity(c: Capacity): string {
  const encoder = c.slowestEncoderSpeed === undefined ? 'no stream encoding' : `slowest encoder at ${c.slowestEncoderSpeed.toFixed(2)}x realtime`;
  return `${freeSlots(c)} of ${c.maxStreams} stream slots free, ${encoder}`;
}
