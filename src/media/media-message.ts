import type { AudioConfig, VideoConfig } from './codec-types.ts';

/** onMetaData as a publisher sent it: numbers, strings and booleans only. */
export type StreamMetadata = Readonly<Record<string, string | number | boolean>>;

/** What a fully parsed tag or metadata message says. */
export interface MediaInfo {
  /** The codec the tag names (undefined for metadata). */
  codec: string | undefined;
  /** The decoded video sequence header, on that message only. */
  video?: VideoConfig;
  /** The decoded audio sequence header, on that message only. */
  audio?: AudioConfig;
  /** The decoded onMetaData, on that message only. */
  metadata?: StreamMetadata;
}

/**
 * One media message of a publishing stream (an RTMP audio, video or data
 * message, FLV spec E.4), classified once at ingest for every consumer
 * downstream (the stream's figures, the transcoder's feed). Every message has
 * the same few fields, so the objects share one small shape on the hot path.
 */
export interface MediaMessage {
  /** Always 'media': the message travels as a connection event without a wrapper object (hot path). */
  type: 'media';
  typeId: 8 | 9 | 18;
  timestamp: number;
  /** The tag body; may be a view of a socket buffer: copy it to keep it. */
  payload: Buffer;
  /** For video: whether this is a keyframe (a GOP starts here). */
  keyframe: boolean;
  /** True for codec configuration (sequence headers) and metadata. */
  config: boolean;
  /** True for a coded audio or video frame (what the frame counters count). */
  frame: boolean;
  /** What a fully parsed tag said; undefined on the fast paths (coded frames of a known codec). */
  info: MediaInfo | undefined;
}
