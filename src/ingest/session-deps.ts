import type { SinkEndReason } from '../media/stream-sink.ts';
import type { ChunkDecoderLimits } from '../rtmp/chunk-decoder.ts';
import type { Publication, PublishRequest, RefusalReason, StreamEntry } from '../streams/registry.ts';

/** Session settings, from the `rtmp` and `limits` config sections. */
export interface SessionOptions {
  app: string;
  chunkSize: number;
  windowAckSize: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  decoderLimits: ChunkDecoderLimits;
  /** Sustained input bitrate limit, bits per second. */
  maxBitrateBps: number;
  /** Window over which the bitrate must stay above the limit before we disconnect. */
  bitrateWindowMs: number;
  /** Largest source, as lines of the short side (1080 for "1080p"). */
  maxResolution: number;
}

/** The part of the stream registry a session needs. */
export interface SessionRegistry {
  publish(request: PublishRequest): Publication;
  unpublish(entry: StreamEntry, reason: SinkEndReason): void;
  refuse(reason: RefusalReason, detail: { key?: string; peer: string; message: string }): void;
  totalBytesIn: number;
  totalBytesOut: number;
}

/** One publish to authenticate: what a SessionAuthorizer is told. */
export interface PublishAttempt {
  app: string;
  /** The stream key, without its query. */
  key: string;
  /** Query parameters of connect's tcUrl and app, overridden by those of the publish name. */
  query: Readonly<Record<string, string>>;
  /** The publisher's IP address, as the socket reports it. */
  clientAddress: string;
}

/**
 * Publish authentication (auth.enabled; a PublishAuthorizer fits): resolves
 * when the publish may go ahead, rejects with a typed error (mapped to an
 * onStatus by refusal.ts, its message sent as the description) when not.
 */
export interface SessionAuthorizer {
  authorize(attempt: PublishAttempt): Promise<void>;
}
