import type { MediaMessage } from './media-message.ts';

/** Why a stream's media ended. */
export type SinkEndReason = 'unpublished' | 'refused' | 'disconnected';

/**
 * Where one published stream's media goes (the transcoder): opened once at
 * publish, fed every media message in order, ended once. It must not throw:
 * the publisher's hot path calls it without a guard.
 */
export interface StreamSink {
  push(message: MediaMessage): void;
  end(reason: SinkEndReason): void;
  /** Set on a sink that takes nothing, saying why (the stream is ingested, not transcoded). */
  readonly error?: string;
}

/** A sink that drops everything (no transcoding for this stream). */
export const NULL_SINK: StreamSink = Object.freeze({ push() {}, end() {} });
