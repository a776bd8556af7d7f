import { DrainingError, StreamBusyError, StreamLimitError } from '../errors.ts';
import type { AudioConfig, VideoConfig } from '../media/codec-types.ts';
import type { MediaMessage, StreamMetadata } from '../media/media-message.ts';
import { NULL_SINK, type SinkEndReason, type StreamSink } from '../media/stream-sink.ts';
import type { TranscodeState } from '../transcode/transcode-state.ts';
import { TypedEmitter } from '../util/events.ts';
import { BitrateMeter } from './bitrate-meter.ts';

/** Stream status as the gRPC API reports it. */
export type StreamStatus = 'active' | 'idle' | 'error';

/** A stream is `idle` when no media arrived for this long. */
export const IDLE_AFTER_MS = 3000;

/** Who publishes a stream. */
export interface PublishRequest {
  key: string;
  app: string;
  query: Readonly<Record<string, string>>;
  /** Remote address as `host:port`. */
  peer: string;
  /** The rtmp:// URL the publisher used, without the query. */
  sourceUrl: string;
}

/**
 * One live stream and its measured figures. The ingest figures are written
 * only through `addBytes` and `record` (by the publishing connection); the
 * transcoder's figures by the transcoder.
 */
/** Source time over which ingestFps is measured. */
const FPS_SPAN_MS = 2000;

export class StreamEntry {
  readonly key: string;
  readonly app: string;
  readonly query: Readonly<Record<string, string>>;
  readonly peer: string;
  readonly sourceUrl: string;
  readonly startedAt: number;
  video: VideoConfig | undefined;
  audio: AudioConfig | undefined;
  /** Codec names seen in media tags before/without a configuration record. */
  videoCodec: string | undefined;
  audioCodec: string | undefined;
  /** onMetaData as sent by the publisher (numbers and strings only). */
  metadata: StreamMetadata = {};
  /** RTMP bytes received on the publishing connection since publish. */
  bytesIn = 0;
  /** Media payload bytes (audio + video tags). */
  mediaBytes = 0;
  videoFrames = 0;
  /** Video frames per second as ingested, over at least FPS_SPAN_MS of source time; 0 until measured. */
  ingestFps = 0;
  /** Source timestamp where the current fps measurement began (-1: none yet), and the frames since. */
  #fpsFrom = -1;
  #fpsFrames = 0;
  keyFrames = 0;
  audioFrames = 0;
  lastMediaAt: number;
  /** Last media timestamp (ms) seen, for duration. */
  lastTimestamp = 0;
  /** The transcoder's live figures (rungs, ffmpeg progress, restarts, drops), when transcoding; set by the transcoder. */
  transcode: Readonly<TranscodeState> | undefined;
  /** Why the stream's sink takes nothing, set by the registry at publish. */
  #sinkError: string | undefined;
  readonly #meter: BitrateMeter;

  constructor(request: PublishRequest, now: number, bitrateWindowMs: number) {
    this.key = request.key;
    this.app = request.app;
    this.query = request.query;
    this.peer = request.peer;
    this.sourceUrl = request.sourceUrl;
    this.startedAt = now;
    this.lastMediaAt = now;
    this.#meter = new BitrateMeter(bitrateWindowMs, now);
  }

  /** Counts bytes read off the publisher's socket. */
  addBytes(bytes: number, now: number): void {
    this.bytesIn += bytes;
    this.#meter.add(bytes, now);
  }

  /** Counts one classified media message at `now` (ms): frames, codecs, configuration, metadata. */
  record(message: MediaMessage, now: number): void {
    const info = message.info;
    if (message.typeId === 18) {
      if (info?.metadata !== undefined) this.metadata = info.metadata;
      return;
    }
    this.lastMediaAt = now;
    this.lastTimestamp = message.timestamp;
    this.mediaBytes += message.payload.length;
    if (message.typeId === 9) {
      if (message.frame) {
        this.videoFrames++;
        if (message.keyframe) this.keyFrames++;
        this.#countFrame(message.timestamp);
      }
      if (info === undefined) return;
      if (info.codec !== undefined) this.videoCodec = info.codec;
      if (info.video !== undefined) this.video = info.video;
    } else {
      if (message.frame) this.audioFrames++;
      if (info === undefined) return;
      if (info.codec !== undefined) this.audioCodec = info.codec;
      if (info.audio !== undefined) this.audio = info.audio;
    }
  }

  /** One video frame at source time `timestamp` (ms): ingestFps over spans of FPS_SPAN_MS; a jump in the source clock restarts the span. */
  #countFrame(timestamp: number): void {
    const span = (timestamp - this.#fpsFrom) | 0;
    if (this.#fpsFrom < 0 || span < 0 || span > 60_000) {
      this.#fpsFrom = timestamp;
      this.#fpsFrames = 0;
      return;
    }
    this.#fpsFrames++;
    if (span >= FPS_SPAN_MS) {
      this.ingestFps = (this.#fpsFrames * 1000) / span;
      this.#fpsFrom = timestamp;
      this.#fpsFrames = 0;
    }
  }

  /** Input bitrate over the sliding window, in bits per second. */
  bitrate(now: number): number {
    return this.#meter.bitsPerSecond(now);
  }

  /** True when the whole window averaged above `limitBps`. */
  sustainedAbove(limitBps: number, now: number): boolean {
    return this.#meter.sustainedAbove(limitBps, now);
  }

  /** Why this stream is not (or no longer) transcoded: the sink refused it, or the transcoder gave up. */
  get error(): string | undefined {
    return this.#sinkError ?? this.transcode?.error;
  }

  /** Records what the stream's sink said; called once, by the registry, at publish. */
  static noteSink(entry: StreamEntry, sink: StreamSink): void {
    entry.#sinkError = sink.error;
  }

  status(now: number): StreamStatus {
    if (this.error !== undefined) return 'error';
    return now - this.lastMediaAt > IDLE_AFTER_MS ? 'idle' : 'active';
  }

  /** Source height in lines, from the sequence header or else metadata. */
  get height(): number | undefined {
    if (this.video !== undefined) return this.video.height;
    const h = this.metadata['height'];
    return typeof h === 'number' ? h : undefined;
  }

  get width(): number | undefined {
    if (this.video !== undefined) return this.video.width;
    const w = this.metadata['width'];
    return typeof w === 'number' ? w : undefined;
  }
}

/** Why a publish or a stream was refused; counted per reason. */
export type RefusalReason =
  | 'app'
  | 'bad-key'
  | 'busy'
  | 'max-streams'
  | 'max-resolution'
  | 'max-bitrate'
  | 'codec'
  | 'protocol'
  | 'draining'
  | 'idle-timeout'
  | 'auth';

/** Events a registry emits. */
export interface RegistryEvents extends Record<string, unknown[]> {
  publish: [StreamEntry];
  unpublish: [StreamEntry];
  refused: [RefusalReason, { key?: string; peer: string; message: string }];
}

/**
 * Opens the sink of a stream at publish (the transcode manager fits); the
 * registry ends it at unpublish.
 */
export interface StreamSinkFactory {
  open(entry: StreamEntry): StreamSink;
}

/** A registered publish: the stream's entry and where its media goes. */
export interface Publication {
  entry: StreamEntry;
  sink: StreamSink;
}

/** Registry limits. */
export interface RegistryOptions {
  maxStreams: number;
  bitrateWindowMs: number;
  /** Where published media goes; none: it is counted and dropped. */
  sinks?: StreamSinkFactory;
  now?: () => number;
  onListenerError?: (err: unknown, event: string) => void;
}

/**
 * The live streams by key. Enforces one publisher per key and the stream cap,
 * counts refusals by reason and the bytes every RTMP connection received.
 */
export class StreamRegistry extends TypedEmitter<RegistryEvents> {
  readonly #streams = new Map<string, Publication>();
  readonly #options: RegistryOptions;
  readonly #now: () => number;
  readonly refusals = new Map<RefusalReason, number>();
  #draining = false;
  /** All RTMP bytes received, on every connection, since start. */
  totalBytesIn = 0;
  /** All RTMP bytes sent. */
  totalBytesOut = 0;

  constructor(options: RegistryOptions) {
    super(options.onListenerError);
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#streams.size;
  }

  get(key: string): StreamEntry | undefined {
    return this.#streams.get(key)?.entry;
  }

  list(): StreamEntry[] {
    return [...this.#streams.values()].map((p) => p.entry);
  }

  /** Stops new publishes (graceful shutdown). */
  drain(): void {
    this.#draining = true;
  }

  /**
   * Registers a publisher and opens its sink; throws StreamBusyError,
   * StreamLimitError or DrainingError. The publisher pushes media straight to the sink.
   */
  publish(request: PublishRequest): Publication {
    if (this.#draining) throw new DrainingError('the server is shutting down and takes no new streams');
    if (this.#streams.has(request.key)) {
      throw new StreamBusyError(`stream key is already being published`);
    }
    if (this.#streams.size >= this.#options.maxStreams) {
      throw new StreamLimitError(
        `maximum number of concurrent streams (RTMP_MAX_STREAMS=${this.#options.maxStreams}) reached`,
      );
    }
    const entry = new StreamEntry(request, this.#now(), this.#options.bitrateWindowMs);
    let sink = NULL_SINK;
    try {
      sink = this.#options.sinks?.open(entry) ?? NULL_SINK;
    } catch (err) {
      this.#options.onListenerError?.(err, 'open sink');
    }
    StreamEntry.noteSink(entry, sink);
    const publication: Publication = { entry, sink };
    this.#streams.set(request.key, publication);
    this.safeEmit('publish', entry);
    return publication;
  }

  /** Removes a stream and ends its sink; a stale entry (another publisher now owns the key) is ignored. */
  unpublish(entry: StreamEntry, reason: SinkEndReason = 'unpublished'): void {
    const publication = this.#streams.get(entry.key);
    if (publication?.entry !== entry) return;
    this.#streams.delete(entry.key);
    try {
      publication.sink.end(reason);
    } catch (err) {
      this.#options.onListenerError?.(err, 'end sink');
    }
    this.safeEmit('unpublish', entry);
  }

  /** Counts and announces a refusal. */
  refuse(reason: RefusalReason, detail: { key?: string; peer: string; message: string }): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    this.safeEmit('refused', reason, detail);
  }
}
