import { encodeFlvTag, flvFileHeader } from '../media/flv-writer.ts';
import type { MediaMessage } from '../media/media-message.ts';

/** What the feed reads of a media message. */
export type FeedMessage = Pick<MediaMessage, 'typeId' | 'timestamp' | 'payload' | 'keyframe' | 'config'>;

/** Counters of what the feed dropped to protect ingest from a slow ffmpeg. */
export interface FeedStats {
  droppedGops: number;
  droppedFrames: number;
}

/** Feed settings. */
export interface GopFeedOptions {
  /** Bytes queued towards ffmpeg above which whole GOPs are dropped. */
  maxBacklogBytes: number;
}

/**
 * Turns a stream's RTMP media messages into the FLV byte stream ffmpeg reads
 * on stdin (FLV spec E.2/E.3), with back-pressure by whole GOPs: when more than
 * `maxBacklogBytes` wait unwritten, everything is dropped up to the next
 * keyframe that finds the backlog under half the limit, so ffmpeg never sees a
 * frame whose references are missing. Sequence headers and metadata are kept
 * so a restarted ffmpeg gets them again, and each run's timestamps start at 0.
 * Pure: the caller passes the current backlog and writes what comes back.
 */
export class GopFeed {
  readonly stats: FeedStats = { droppedGops: 0, droppedFrames: 0 };
  readonly #options: GopFeedOptions;
  #metadata: Buffer | undefined;
  #videoConfig: Buffer | undefined;
  #audioConfig: Buffer | undefined;
  /** Waiting for a keyframe: at start, after a restart, or while dropping. */
  #waiting = true;
  #dropping = false;
  /** No media written yet in this ffmpeg run: the next keyframe sets the time base. */
  #fresh = true;
  #base = 0;
  #last = 0;

  constructor(options: GopFeedOptions) {
    this.#options = options;
  }

  /** True while the stream's configuration (a video sequence header) is known. */
  get ready(): boolean {
    return this.#videoConfig !== undefined;
  }

  /**
   * Bytes that open a new ffmpeg run: the FLV header and the stored metadata and
   * sequence headers at timestamp 0. Media resumes at the next keyframe.
   */
  start(): Buffer {
    this.#waiting = true;
    this.#fresh = true;
    this.#dropping = false;
    const parts = [flvFileHeader({ audio: this.#audioConfig !== undefined, video: true })];
    if (this.#metadata !== undefined) parts.push(encodeFlvTag(18, 0, this.#metadata));
    if (this.#videoConfig !== undefined) parts.push(encodeFlvTag(9, 0, this.#videoConfig));
    if (this.#audioConfig !== undefined) parts.push(encodeFlvTag(8, 0, this.#audioConfig));
    return Buffer.concat(parts);
  }

  /** Takes one message; returns the FLV tag to write, or undefined when held back. */
  push(message: FeedMessage, backlogBytes: number): Buffer | undefined {
    if (message.config) {
      this.#remember(message);
      if (this.#waiting) return undefined; // start() replays it
      return encodeFlvTag(message.typeId, this.#rebase(message.timestamp), message.payload);
    }
    if (message.typeId === 9 && message.keyframe) {
      if (this.#dropping && backlogBytes > this.#options.maxBacklogBytes / 2) {
        this.stats.droppedGops++;
        this.stats.droppedFrames++;
        return undefined;
      }
      if (this.#fresh) this.#base = message.timestamp;
      this.#fresh = false;
      this.#waiting = false;
      this.#dropping = false;
    } else if (!this.#waiting && backlogBytes > this.#options.maxBacklogBytes) {
      this.#waiting = true;
      this.#dropping = true;
      this.stats.droppedGops++;
    }
    if (this.#waiting) {
      if (this.#dropping) this.stats.droppedFrames++;
      return undefined;
    }
    return encodeFlvTag(message.typeId, this.#rebase(message.timestamp), message.payload);
  }

  #remember(message: FeedMessage): void {
    const copy = Buffer.from(message.payload); // the payload may be a view of a socket buffer
    if (message.typeId === 18) this.#metadata = copy;
    else if (message.typeId === 9) this.#videoConfig = copy;
    else this.#audioConfig = copy;
  }

  /** Timestamps relative to the run's first keyframe, never going backwards past 0. */
  #rebase(timestamp: number): number {
    const t = (timestamp - this.#base) >>> 0;
    // Audio a few ms before the first keyframe would wrap to ~2^32: clamp it.
    this.#last = t > 0x7fffffff ? 0 : t;
    return this.#last;
  }
}
