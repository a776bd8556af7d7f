import { parseAudioTag, parseVideoTag } from '../media/flv-tag.ts';
import { encodeFlvTag, flvFileHeader } from '../media/flv-writer.ts';
import { MKV_AUDIO_TRACK, MKV_VIDEO_TRACK, mkvFrame, mkvHeader, type MkvAudioTrack, type MkvVideoTrack } from '../media/mkv-writer.ts';
import type { AudioConfig, VideoConfig } from '../media/codec-types.ts';
import type { MediaMessage } from '../media/media-message.ts';

/** What the feed reads of a media message. */
export type FeedMessage = Pick<MediaMessage, 'typeId' | 'timestamp' | 'payload' | 'keyframe' | 'config'>;

/** Counters of what the feed dropped to protect ingest from a slow ffmpeg, and of source clock jumps. */
export interface FeedStats {
  droppedGops: number;
  /** Video frames dropped with those GOPs. */
  droppedFrames: number;
  /** Source timestamps that jumped back or far forward (each smoothed over). */
  timestampJumps: number;
}

/** Interleaved audio and video may step back this much (ms) without it being a jump. */
export const MAX_STEP_BACK_MS = 1000;
/** A forward step longer than this (ms) is a jump, not a pause in the source. */
export const MAX_STEP_FORWARD_MS = 5000;
/** A run's clock past this (ms) asks for a new run: FLV timestamps are signed 32-bit ms. */
export const MAX_RUN_CLOCK_MS = 2 ** 31 - 10 * 60_000;

/** Which tracks a run carries; messages of the other track are held back. */
export interface RunTracks {
  video: boolean;
  audio: boolean;
}

/**
 * A run fed Matroska instead of FLV (Enhanced RTMP HEVC / AV1, which no
 * supported ffmpeg reads as FLV): the configurations of the tracks it carries.
 * The records themselves come from the sequence headers the feed keeps.
 */
export interface MatroskaTracks {
  video?: VideoConfig;
  audio?: AudioConfig;
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
  readonly stats: FeedStats = { droppedGops: 0, droppedFrames: 0, timestampJumps: 0 };
  readonly #options: GopFeedOptions;
  #metadata: Buffer | undefined;
  #videoConfig: Buffer | undefined;
  #audioConfig: Buffer | undefined;
  /** Waiting for a keyframe: at start, after a restart, or while dropping. */
  #waiting = true;
  #dropping = false;
  /** No media written yet in this ffmpeg run: the next keyframe sets the time base. */
  #fresh = true;
  /** The current run's tracks: with no video, every audio frame is a point to start (or resume) at. */
  #tracks: RunTracks = { video: true, audio: true };
  /** True for a run fed Matroska. */
  #matroska = false;
  /** Source timestamp of the last message, as it came (32 bits, wrapping). */
  #lastRaw = 0;
  /** The run's own clock for the last message, ms from its first keyframe: unwrapped, jumps removed. */
  #clock = 0;

  constructor(options: GopFeedOptions) {
    this.#options = options;
  }

  /**
   * Bytes that open a new ffmpeg run carrying `tracks` (default both): the FLV
   * header and the stored metadata and sequence headers at timestamp 0. Media
   * resumes at the next keyframe, or, in a run without video, the next audio
   * frame. Messages of a track the run does not carry are held back.
   */
  start(tracks: RunTracks = { video: true, audio: true }, matroska?: MatroskaTracks): Buffer {
    this.#tracks = tracks;
    this.#matroska = matroska !== undefined;
    this.#waiting = true;
    this.#fresh = true;
    this.#dropping = false;
    // Matroska carries the configuration in its track entries; a new one mid-run comes with a re-plan (a new run).
    if (matroska !== undefined) return mkvHeader(this.#mkvTracks(tracks, matroska));
    const parts = [flvFileHeader(tracks)];
    if (this.#metadata !== undefined) parts.push(encodeFlvTag(18, 0, this.#metadata));
    if (this.#videoConfig !== undefined && tracks.video) parts.push(encodeFlvTag(9, 0, this.#videoConfig));
    if (this.#audioConfig !== undefined && tracks.audio) parts.push(encodeFlvTag(8, 0, this.#audioConfig));
    return Buffer.concat(parts);
  }

  /** Takes one message; returns the FLV tag to write, or undefined when held back. */
  push(message: FeedMessage, backlogBytes: number): Buffer | undefined {
    const carried = message.typeId === 18 || (message.typeId === 9 ? this.#tracks.video : this.#tracks.audio);
    if (message.config) {
      this.#remember(message);
      if (this.#waiting || !carried) return undefined; // start() replays it
      const time = this.#rebase(message.timestamp);
      return this.#matroska ? undefined : encodeFlvTag(message.typeId, time, message.payload);
    }
    if (!carried) return undefined;
    // Where a run may start or resume: a keyframe, or any audio frame in a run without video.
    const sync = this.#tracks.video ? message.typeId === 9 && message.keyframe : message.typeId === 8;
    if (sync) {
      if (this.#dropping && backlogBytes > this.#options.maxBacklogBytes / 2) {
        if (message.typeId === 9) {
          this.stats.droppedGops++;
          this.stats.droppedFrames++;
        }
        if (!this.#fresh) this.#rebase(message.timestamp);
        return undefined;
      }
      if (this.#fresh) {
        this.#lastRaw = message.timestamp;
        this.#clock = 0;
        this.#fresh = false;
      }
      this.#waiting = false;
      this.#dropping = false;
    } else if (!this.#waiting && backlogBytes > this.#options.maxBacklogBytes) {
      this.#waiting = true;
      this.#dropping = true;
      if (this.#tracks.video) this.stats.droppedGops++;
    }
    // The clock follows dropped messages too, so that media after a dropped GOP keeps its time.
    const time = this.#fresh ? 0 : this.#rebase(message.timestamp);
    if (this.#waiting) {
      // Frames are video frames: audio dropped with a GOP is not counted as frames.
      if (this.#dropping && message.typeId === 9) this.stats.droppedFrames++;
      return undefined;
    }
    return this.#matroska ? this.#mkvFrame(message, time) : encodeFlvTag(message.typeId, time, message.payload);
  }

  /** The Matroska track entries of a run: the decoder configuration records from the stored sequence headers. */
  #mkvTracks(tracks: RunTracks, configs: MatroskaTracks): { video?: MkvVideoTrack; audio?: MkvAudioTrack } {
    const out: { video?: MkvVideoTrack; audio?: MkvAudioTrack } = {};
    const { video, audio } = configs;
    if (tracks.video && video !== undefined && this.#videoConfig !== undefined) {
      out.video = { codec: video.codec, record: Buffer.from(parseVideoTag(this.#videoConfig).payload), width: video.width, height: video.height };
    }
    if (tracks.audio && audio !== undefined) {
      // The AudioSpecificConfig or OpusHead of the stored sequence header (legacy AAC or Enhanced RTMP); MP3 has none.
      const config = this.#audioConfig === undefined ? undefined : Buffer.from(parseAudioTag(this.#audioConfig).payload);
      out.audio = { codec: audio.codec, sampleRate: audio.sampleRate, channels: audio.channels, ...(config === undefined ? {} : { config }) };
    }
    return out;
  }

  /** A message as a Matroska frame: the coded frame without its FLV header (and the composition time it states). */
  #mkvFrame(message: FeedMessage, time: number): Buffer | undefined {
    if (message.typeId === 9) {
      const tag = parseVideoTag(message.payload);
      if (tag.packet !== 'coded-frames' || tag.payload.length === 0) return undefined;
      return mkvFrame(MKV_VIDEO_TRACK, time, tag.compositionTimeMs, message.keyframe, tag.payload);
    }
    if (message.typeId !== 8) return undefined;
    const tag = parseAudioTag(message.payload);
    if (tag.packet !== 'raw') return undefined;
    return mkvFrame(MKV_AUDIO_TRACK, time, 0, true, tag.payload);
  }

  #remember(message: FeedMessage): void {
    const copy = Buffer.from(message.payload); // the payload may be a view of a socket buffer
    if (message.typeId === 18) this.#metadata = copy;
    else if (message.typeId === 9) this.#videoConfig = copy;
    else this.#audioConfig = copy;
  }

  /**
   * The run's timestamp for a source timestamp: the run's clock advances by
   * the source's step, read as a signed 32-bit difference (so the RTMP clock's
   * wrap at 2^32 ms is just another step). A step back of more than
   * MAX_STEP_BACK_MS or forward of more than MAX_STEP_FORWARD_MS is a jump in
   * the source's clock: the run's clock goes on by one millisecond instead, so
   * ffmpeg never sees time freeze or leap. Never below 0 (audio a little before
   * the first keyframe).
   */
  #rebase(timestamp: number): number {
    const step = (timestamp - this.#lastRaw) | 0;
    this.#lastRaw = timestamp;
    if (step < -MAX_STEP_BACK_MS || step > MAX_STEP_FORWARD_MS) {
      this.stats.timestampJumps++;
      this.#clock += 1;
    } else {
      this.#clock = Math.max(0, this.#clock + step);
    }
    return this.#clock;
  }

  /**
   * True once this run's clock nears what an FLV timestamp holds (SI32 ms,
   * about 24.8 days): the caller starts a new run, which starts again at 0.
   */
  get needsNewRun(): boolean {
    return this.#clock > MAX_RUN_CLOCK_MS;
  }
}
