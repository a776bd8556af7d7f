import type { AudioConfig, VideoConfig } from '../media/codec-types.ts';
import type { MediaMessage, StreamMetadata } from '../media/media-message.ts';
import type { Logger } from '../log.ts';
import type { StreamEntry } from '../streams/registry.ts';
import type { StreamPackager, TrackSpec } from '../package/stream-packager.ts';
import { TrackInput } from '../package/track-input.ts';
import { buildCmafPipeArgs, type EncoderKind } from './ffmpeg-args.ts';
import { FfmpegProcess, OUTPUT_FD, type FfmpegExit } from './ffmpeg-process.ts';
import { mkvCarriesAudio } from '../media/mkv-writer.ts';
import { GopFeed, type MatroskaTracks, type RunTracks } from './gop-feed.ts';
import { parseVideoTag } from '../media/flv-tag.ts';
import { decidePassthrough, fitRung, type SourceMeasurement } from './passthrough-fit.ts';
import { MeasuringWindow, type WindowClose } from './measuring-window.ts';
import { flvTagTime, PassthroughTrack, type PassthroughState } from './passthrough.ts';
import { CAP_FLOOR, DEFAULT_LADDER, planLadder, type Rung } from './ladder.ts';
import type { FfmpegProgress } from './progress.ts';
import { RestartPolicy } from './restart-policy.ts';
import type { BitrateCap, TranscodeState } from './transcode-state.ts';

export type { EncoderFallback, TranscodeState } from './transcode-state.ts';

/** Transcoding settings shared by every stream (the `transcode` config section). */
export interface TranscodeSettings {
  ffmpegPath: string;
  /** The encoder start-up detection chose; a stream falls back to x264 when it fails while running. */
  encoder: EncoderKind;
  /** VAAPI render node (the one detection proved). */
  vaapiDevice?: string;
  /** x264 preset (hardware encoders use their own default). */
  preset: string;
  segmentSeconds: number;
  /** CMAF fragment (part) duration. */
  partSeconds: number;
  audioKbps: number;
  maxBacklogBytes: number;
  /** Tallest rung allowed (RTMP_MAX_RESOLUTION). */
  maxHeight: number;
  ladder?: readonly Rung[];
  /** Package an H.264 source that fits as the top rung itself (`transcode.passthrough`); default true. */
  passthrough?: boolean;
}

// The restart policy moved to restart-policy.ts; re-exported for existing importers.
export {
  FAILURE_WINDOW_MS,
  HARDWARE_FAILURES,
  HARDWARE_MAX_DEATHS,
  hardwareFailure,
  MAX_FAILURES,
  PERMANENT_FAILURE,
  RESTART_BACKOFF_MS,
} from './restart-policy.ts';

/**
 * How long (ms of source time, from the first media message) a stream waits
 * for a track that onMetaData announces (`audiocodecid`, `videocodecid`) but
 * whose configuration has not come, or, without onMetaData, for a second
 * track, before it starts with the tracks it has.
 */
export const TRACK_WAIT_MS = 2500;

/** True when an onMetaData codec id names a codec (ffmpeg and OBS omit the key for an absent track; some send 0). */
function announced(value: string | number | boolean | undefined): boolean {
  return value !== undefined && value !== 0 && value !== '' && value !== false;
}

/**
 * The size the source is displayed at: an anamorphic source (a VUI sample
 * aspect ratio other than 1:1, e.g. 720x576 at 64:45) is planned as the
 * square-pixel picture it stands for (1024x576, 16:9), so its rungs are 16:9
 * with square pixels (the filter graph's setdar makes them so).
 */
export function displaySize(video: Pick<VideoConfig, 'width' | 'height' | 'sar'>): [number, number] {
  const [w, h] = video.sar ?? [1, 1];
  return [Math.max(2, Math.round((video.width * w) / h)), video.height];
}

/**
 * One stream's ffmpeg: planned from the source once its configuration is
 * known (video and audio, video only or audio only: see `#startTracks`), fed
 * FLV through the GOP feed, restarted with backoff when it dies (resuming at
 * the next keyframe), re-planned in a new run when a track appears or the
 * video changes size, and finished cleanly at unpublish so the playlists end
 * with EXT-X-ENDLIST and the DASH manifest turns static.
 */
export class StreamTranscoder {
  readonly entry: StreamEntry;
  readonly packager: StreamPackager;
  readonly state: TranscodeState;
  readonly #settings: TranscodeSettings;
  readonly #log: Logger;
  readonly #feed: GopFeed;
  #process: FfmpegProcess | undefined;
  #args: string[] | undefined;
  readonly #policy = new RestartPolicy();
  #restartTimer: NodeJS.Timeout | undefined;
  #ended = false;
  /** Runs stopped on purpose to start a new run at once: their clock neared the FLV timestamp limit, or the source changed. */
  readonly #rollovers = new Set<FfmpegProcess>();
  /** Runs killed because their output could not be packaged, with why. */
  readonly #malformed = new Map<FfmpegProcess, string>();

  constructor(entry: StreamEntry, packager: StreamPackager, settings: TranscodeSettings, log: Logger) {
    this.entry = entry;
    this.packager = packager;
    this.#settings = settings;
    this.#log = log.child({ key: entry.key });
    this.#feed = new GopFeed({ maxBacklogBytes: settings.maxBacklogBytes });
    this.state = {
      status: 'starting',
      rungs: [],
      encoder: settings.encoder,
      fallback: undefined,
      progress: undefined,
      restarts: 0,
      droppedGops: 0,
      droppedFrames: 0,
      error: undefined,
    };
    entry.transcode = this.state;
  }

  /** Takes one media message, straight from the publishing connection (its StreamSink). */
  onMedia(message: MediaMessage): void {
    if (this.#ended || this.state.status === 'error') return;
    const changed = this.#remember(message);
    if (this.#window !== undefined) {
      this.#measure(message);
      return;
    }
    if (this.#run === undefined) {
      const tracks = this.#startTracks(message);
      if (tracks?.video) {
        this.#beginMeasuring(tracks);
        this.#measure(message);
        return;
      }
      if (tracks !== undefined) {
        this.#plan(tracks);
        this.#spawn();
      }
    } else if (changed !== undefined) {
      this.#replan(changed);
    }
    this.#forward(message);
  }

  /**
   * Begins the measuring window (measuring-window.ts) of the first run with
   * video: its messages are held until the source's bitrate is measured, the
   * ladder is planned from it and ffmpeg starts on them. A source that may
   * pass through is measured over 2 GOPs (at most 3 segment durations), any
   * other over one GOP (at most CAP_WINDOW_MS, 1 s): the first segment comes
   * later (by about what ffmpeg then needs to catch up on the held media).
   */
  #beginMeasuring(tracks: RunTracks): void {
    const candidate = this.#candidate();
    this.#heldTracks = tracks;
    this.#window = new MeasuringWindow(candidate ? 'passthrough' : 'cap', this.#settings.segmentSeconds, this.#settings.maxBacklogBytes);
    if (candidate) this.#setPassthrough({ status: 'measuring' });
  }

  /** Holds one message of the measuring window, or, when it closes the window, starts the run on the held messages and forwards it. */
  #measure(message: MediaMessage): void {
    if (this.#startHeld(this.#window!.push(message))) this.#forward(message);
  }

  /**
   * Ends the measuring window once it has closed (else false): plans (passing
   * the source through only when a `passthrough` window is complete; a cut
   * window says why not, and leaves the declared cap), starts ffmpeg and hands
   * it, and the remux, every held message. Audio configured during the
   * window joins the run.
   */
  #startHeld(closed: WindowClose | undefined): boolean {
    if (closed === undefined) return false;
    const window = this.#window!;
    this.#window = undefined;
    const tracks: RunTracks = { video: true, audio: this.#heldTracks.audio || this.#audio !== undefined };
    const { measurement, cut } = closed;
    if (cut !== undefined && window.span === 'passthrough') this.#setPassthrough({ status: 'off', reason: cut });
    if (cut !== undefined) this.#log.info({ why: cut }, 'measuring window cut short: the rungs are capped at the declared bitrate, if any');
    this.#measurement = measurement;
    this.#plan(tracks, measurement, window.span === 'passthrough');
    this.#spawn();
    for (const m of closed.held) this.#forward(m);
    return true;
  }

  /** Last keyframe of the passed-through track (run ms) and the dropped-GOP count then: the grid watch. */
  #lastKey: { time: number; dropped: number } | undefined;

  /**
   * A passed-through source must keep its GOP: a keyframe that comes after
   * another GOP length than measured (with no GOP dropped in between) would
   * cut its segments apart from the encoded rungs', so passthrough turns off
   * for the rest of the stream.
   */
  #watchGrid(time: number): void {
    const keys = this.#sourceKeyframes;
    if (keys === undefined) return;
    const dropped = this.#feed.stats.droppedGops;
    const last = this.#lastKey;
    this.#lastKey = { time, dropped };
    if (last === undefined || time < last.time || dropped !== last.dropped) return;
    const gop = (time - last.time) / 1000;
    if (Math.abs(gop - keys.gopSeconds) > 0.5 / keys.fps) {
      this.#passthroughOff(`the source's GOP changed from ${keys.gopSeconds} s to ${+gop.toFixed(3)} s`);
    }
  }

  #forward(message: MediaMessage): void {
    const tag = this.#feed.push(message, this.#process?.backlog ?? 0);
    if (tag !== undefined && message.typeId === 9 && !message.config && this.#copy !== undefined && this.#copyRung !== undefined) {
      try {
        // The feed's tag carries the run's clock for this frame: the remux and ffmpeg share it.
        const time = flvTagTime(tag);
        this.#copy.push(time, message.payload, Date.now());
        if (message.keyframe) this.#watchGrid(time);
      } catch (err) {
        // A frame the remux refuses (its decode time going back): encode every rung from here on.
        this.#passthroughOff(`the source cannot be remuxed: ${(err as Error).message}`);
      }
    }
    if (message.config && message.typeId === 9 && this.#copyRung !== undefined && !parseVideoTag(message.payload).payload.equals(this.#avcC!)) {
      // A new sequence header mid-stream: the passed-through track cannot change its init within a run.
      this.#passthroughOff('the sequence header changed');
    }
    this.state.droppedGops = this.#feed.stats.droppedGops;
    this.state.droppedFrames = this.#feed.stats.droppedFrames;
    this.state.timestampJumps = this.#feed.stats.timestampJumps;
    if (tag !== undefined && this.#process?.running) this.#process.write(tag);
    if (this.#feed.needsNewRun && this.#process?.running && !this.#rollovers.has(this.#process)) {
      // Weeks into a stream, FLV timestamps run out: a new run (a discontinuity) starts the clock at 0 again.
      this.#rollovers.add(this.#process);
      this.#log.info('the run\'s clock nears the FLV limit: starting a new run');
      void this.#process.stop();
    }
  }

  /** The measuring window while it is open, and the tracks the run it holds was to start with. */
  #window: MeasuringWindow | undefined;
  #heldTracks: RunTracks = { video: true, audio: true };
  /** What the window measured (undefined when it was cut short): later plans keep its cap. */
  #measurement: SourceMeasurement | undefined;
  /** The source's AVCDecoderConfigurationRecord, as its sequence header carries it. */
  #avcC: Buffer | undefined;
  /** The passed-through rung of the plan, its run's track, and the source GOP the encoded rungs key on. */
  #copyRung: Rung | undefined;
  #copy: PassthroughTrack | undefined;
  #sourceKeyframes: { gopSeconds: number; fps: number } | undefined;

  get #passthroughAllowed(): boolean {
    return this.#settings.passthrough !== false;
  }

  #declaredFps(): { fps?: number } {
    const fps = this.#metadata?.['framerate'];
    return typeof fps === 'number' && fps > 0 ? { fps } : {};
  }

  /**
   * What caps the rungs' bitrates: the video bitrate measured over the
   * measuring window, else the one onMetaData declares (`videodatarate`),
   * else nothing.
   */
  #cap(measured: SourceMeasurement | undefined): BitrateCap | undefined {
    if (measured !== undefined && measured.kbps > 0) return { kbps: Math.round(measured.kbps), from: 'measured' };
    const kbps = this.#metadata?.['videodatarate'];
    return typeof kbps === 'number' && kbps > 0 ? { kbps: Math.round(kbps), from: 'declared' } : undefined;
  }

  /**
   * The ladder this source gets under `cap`, each rung's bitrate at most the
   * cap (but not under CAP_FLOOR of its own); the frame rate is capped at the
   * declared one only (ms timestamps jitter).
   */
  #ladderFor(cap: BitrateCap | undefined): Rung[] {
    const [width, height] = displaySize(this.#video!);
    return planLadder(
      this.#settings.ladder ?? DEFAULT_LADDER,
      { width, height, ...this.#declaredFps(), ...(cap === undefined ? {} : { bitrateKbps: cap.kbps, capFloor: CAP_FLOOR }) },
      this.#settings.maxHeight,
    );
  }

  /**
   * Whether the source may pass through, from its sequence header and the
   * plan alone (codec, profile, size, another rung left to encode): only then
   * is it measured over the 2-GOP passthrough window (any other source over
   * the short cap window). Says why not otherwise.
   */
  #candidate(): boolean {
    if (!this.#passthroughAllowed || this.#video === undefined) return false;
    const sar = this.#video.sar;
    if (sar !== undefined && sar[0] !== sar[1]) {
      this.#setPassthrough({ status: 'off', reason: `anamorphic source (SAR ${sar[0]}:${sar[1]}): every rung gets square pixels` });
      return false;
    }
    if (this.#enhancedVideo) {
      // Enhanced RTMP video is fed to ffmpeg as Matroska; the remux follows the FLV feed's clock.
      this.#setPassthrough({ status: 'off', reason: 'Enhanced RTMP video is transcoded' });
      return false;
    }
    const planned = this.#ladderFor(this.#cap(undefined));
    const fit = fitRung({ video: this.#video, ladder: this.#settings.ladder ?? DEFAULT_LADDER, planned, maxHeight: this.#settings.maxHeight, segmentSeconds: this.#settings.segmentSeconds });
    if (!fit.fits) {
      this.#setPassthrough({ status: 'off', reason: fit.reason });
      return false;
    }
    if (this.#avcC === undefined) {
      this.#setPassthrough({ status: 'off', reason: 'no AVC sequence header' });
      return false;
    }
    if (planned.every((r) => r.name === fit.replaces)) {
      this.#setPassthrough({ status: 'off', reason: 'no other rung to encode' });
      return false;
    }
    return true;
  }

  #setPassthrough(state: PassthroughState): void {
    this.state.passthrough = state;
    if (state.status === 'on') this.#log.info({ rung: state.rung, measuredKbps: state.measuredKbps }, `passthrough: on (${state.rung} is the source)`);
    if (state.status === 'off') this.#log.info({ measuredKbps: state.measuredKbps }, `passthrough: off (${state.reason})`);
  }

  /**
   * Stops passing the source through for good (a changed sequence header, a
   * changed GOP, a frame the remux refuses):
   * the ladder is planned again with every rung encoded and a new run starts
   * at the next keyframe.
   */
  #passthroughOff(reason: string): void {
    this.#copyRung = undefined;
    this.#sourceKeyframes = undefined;
    this.#setPassthrough({ ...this.state.passthrough, status: 'off', reason });
    delete this.state.passthrough!.rung;
    this.#plan(this.#run!.tracks, this.#measurement);
    if (this.#process?.running && !this.#rollovers.has(this.#process)) {
      this.#rollovers.add(this.#process);
      void this.#process.stop();
    }
  }

  /** The packager tracks of the plan: one per rung, then the audio. */
  #tracks: TrackSpec[] = [];
  /** The source as its configuration messages describe it (the ladder is planned from these). */
  #video: VideoConfig | undefined;
  #audio: AudioConfig | undefined;
  #metadata: StreamMetadata | undefined;
  /** Source timestamp of the first audio or video message: where the wait for a missing track starts. */
  #firstMediaAt: number | undefined;
  #sawVideo = false;
  #sawAudio = false;
  /** The video sequence start came with an Enhanced RTMP header (ffmpeg reads those only from Matroska, H.264 'avc1' too). */
  #enhancedVideo = false;
  /** The same for audio (Enhanced RTMP v2: 'mp4a', 'Opus'). */
  #enhancedAudio = false;
  /**
   * What the current plan carries, the video configuration it was planned
   * for, and, for HEVC and AV1, the tracks fed as Matroska; undefined until the first plan.
   */
  #run: { tracks: RunTracks; video: VideoConfig | undefined; matroska: MatroskaTracks | undefined } | undefined;

  /**
   * Keeps what a message says about the source. Returns why the current plan
   * no longer fits (a track it lacks got configured, or the video changed
   * size), or undefined.
   */
  #remember(message: MediaMessage): string | undefined {
    if (message.typeId === 9) this.#sawVideo = true;
    else if (message.typeId === 8) this.#sawAudio = true;
    if (message.typeId !== 18) this.#firstMediaAt ??= message.timestamp;
    const info = message.info;
    if (info === undefined) return undefined;
    if (info.metadata !== undefined) this.#metadata = info.metadata;
    const run = this.#run;
    if (info.video !== undefined) {
      this.#video = info.video;
      this.#enhancedVideo = (message.payload[0]! & 0x80) !== 0;
      if (this.#avcC === undefined && !this.#enhancedVideo) {
        const tag = parseVideoTag(message.payload);
        if (tag.codec === 'h264' && tag.packet === 'sequence-start') this.#avcC = Buffer.from(tag.payload);
      }
      if (run !== undefined && !run.tracks.video) return 'video appeared';
      const was = run?.video;
      // Another codec needs another input; Matroska states the decoder configuration once, in its
      // header, so another one needs a new run too (the same one again, as some encoders send before
      // every keyframe, does not).
      if (was !== undefined && (was.codec !== info.video.codec || (run!.matroska !== undefined && was.codecString !== info.video.codecString))) {
        return `video configuration changed from ${was.codecString} to ${info.video.codecString}`;
      }
      if (was !== undefined && displaySize(was).join('x') !== displaySize(info.video).join('x')) {
        return `video size changed from ${displaySize(was).join('x')} to ${displaySize(info.video).join('x')} (display)`;
      }
    }
    if (info.audio !== undefined) {
      this.#audio = info.audio;
      this.#enhancedAudio = message.payload[0]! >> 4 === 9;
      if (run !== undefined && !run.tracks.audio) return 'audio appeared';
    }
    return undefined;
  }

  /**
   * The tracks to start with, once this message makes starting possible, or
   * undefined to wait. A run with video starts at a keyframe once the video
   * is configured and the audio is too, or is not expected (onMetaData names
   * no audio codec), or TRACK_WAIT_MS have passed. A run without video starts
   * at an audio frame once the audio is configured and video is not expected,
   * or TRACK_WAIT_MS have passed. Without onMetaData either track may come.
   */
  #startTracks(message: MediaMessage): RunTracks | undefined {
    if (message.typeId === 18 || message.config) return undefined;
    const video = this.#video !== undefined;
    const audio = this.#audio !== undefined;
    const meta = this.#metadata;
    const waited = ((message.timestamp - this.#firstMediaAt!) | 0) >= TRACK_WAIT_MS;
    if (message.typeId === 9 && message.keyframe && video) {
      if (audio) return { video: true, audio: true };
      return this.#startWithout('audio', meta === undefined || announced(meta['audiocodecid']) || this.#sawAudio, waited);
    }
    if (message.typeId === 8 && audio && !video) return this.#startWithout('video', meta === undefined || announced(meta['videocodecid']) || this.#sawVideo, waited);
    return undefined;
  }

  /** Starts without `missing` when it is not expected, or (saying so) once the wait is over; else waits. */
  #startWithout(missing: 'audio' | 'video', expected: boolean, waited: boolean): RunTracks | undefined {
    if (expected && !waited) return undefined;
    if (expected) {
      this.#log.warn(
        { waitedMs: TRACK_WAIT_MS, [`${missing}codecid`]: this.#metadata?.[`${missing}codecid`] },
        `no ${missing} configuration arrived in time: starting without ${missing} (${missing} that comes later starts a new run)`,
      );
    }
    return { video: missing !== 'video', audio: missing !== 'audio' };
  }

  /**
   * Plans the run: its tracks, and for video the ladder, its bitrates capped
   * at the bitrate measured over the measuring window (else the one onMetaData
   * declares: see `#cap`), and (`decide`) the top rung passed through when the
   * source fits (passthrough-fit.ts).
   */
  #plan(wanted: RunTracks, measured?: SourceMeasurement, decide = false): void {
    let tracks = wanted;
    const video = this.#video;
    let rungs: Rung[] = [];
    let cap: BitrateCap | undefined;
    if (tracks.video && video !== undefined) {
      const ladder = this.#settings.ladder ?? DEFAULT_LADDER;
      cap = this.#cap(measured);
      const planned = this.#ladderFor(cap);
      rungs = planned;
      if (measured !== undefined && decide) {
        this.#copyRung = undefined;
        this.#sourceKeyframes = undefined;
        const fit = decidePassthrough({ video, measured, ladder, planned, maxHeight: this.#settings.maxHeight, segmentSeconds: this.#settings.segmentSeconds });
        const encoded = fit.fits ? planned.filter((r) => r.name !== fit.replaces) : planned;
        if (fit.fits && encoded.length === 0) {
          this.#setPassthrough({ status: 'off', reason: 'no other rung to encode', measuredKbps: Math.round(measured.kbps) });
        } else if (fit.fits) {
          this.#copyRung = fit.rung;
          this.#sourceKeyframes = { gopSeconds: fit.gopSeconds, fps: measured.fps };
          rungs = [fit.rung, ...encoded];
          this.#setPassthrough({ status: 'on', rung: fit.rung.name, measuredKbps: Math.round(measured.kbps) });
        } else {
          this.#setPassthrough({ status: 'off', reason: fit.reason, measuredKbps: Math.round(measured.kbps) });
        }
      }
    }
    // No supported ffmpeg reads HEVC, AV1 or any Enhanced RTMP tag in FLV: those sources are fed as Matroska, which carries AAC, MP3 and Opus audio.
    const matroska = (tracks.video && (video?.codec === 'hevc' || video?.codec === 'av1' || this.#enhancedVideo)) || (tracks.audio && this.#enhancedAudio);
    const audio = this.#audio;
    if (matroska && tracks.audio && audio !== undefined && !mkvCarriesAudio(audio.codec)) {
      this.#log.warn({ audio: audio.codec, video: video?.codec }, 'this audio codec cannot be fed with HEVC, AV1 or Enhanced RTMP media (AAC, MP3 and Opus can): transcoding without audio');
      tracks = { ...tracks, audio: false };
    }
    this.#run = {
      tracks,
      video: tracks.video ? video : undefined,
      matroska: matroska ? { ...(tracks.video && video !== undefined ? { video } : {}), ...(tracks.audio && audio !== undefined ? { audio } : {}) } : undefined,
    };
    this.state.rungs = rungs;
    this.state.bitrateCap = cap;
    this.#tracks = [
      ...rungs.map((r): TrackSpec => ({ name: r.name, kind: 'video', bandwidth: r.bitrateKbps * 1000, frameRate: r.fps })),
      ...(tracks.audio ? [{ name: 'audio', kind: 'audio' as const, bandwidth: this.#settings.audioKbps * 1000 }] : []),
    ];
    this.#args = this.#buildArgs();
    this.#log.info(
      {
        rungs: rungs.map((r) => `${r.name}@${r.bitrateKbps}k`),
        audio: tracks.audio ? (this.#audio?.codec ?? 'yes') : 'none',
        ...(tracks.video ? { capKbps: cap?.kbps, cap: cap?.from ?? 'none' } : {}),
      },
      'transcode planned',
    );
  }

  /**
   * The source changed under the running plan: a new plan, and a new run (a
   * discontinuity) that starts at the next keyframe once the current run has
   * finished writing what it has. The current run takes nothing more, so no
   * frame of the new source is scaled into the old rungs.
   */
  #replan(why: string): void {
    const tracks: RunTracks = { video: this.#video !== undefined, audio: this.#audio !== undefined };
    this.#log.info({ why }, 'the source changed: re-planning in a new run');
    if (this.#copyRung !== undefined) {
      this.#copyRung = undefined;
      this.#sourceKeyframes = undefined;
      this.#setPassthrough({ ...this.state.passthrough, status: 'off', reason: why });
      delete this.state.passthrough!.rung;
    }
    this.#plan(tracks, this.#measurement);
    const process = this.#process;
    if (process?.running) {
      this.#rollovers.add(process);
      void process.stop();
    }
  }

  /** The live run's arguments for the stream's current encoder: every rung but a passed-through one. */
  #buildArgs(): string[] {
    const { encoder } = this.state;
    return buildCmafPipeArgs({
      rungs: this.#copyRung === undefined ? this.state.rungs : this.state.rungs.filter((r) => r !== this.#copyRung),
      ...(this.#sourceKeyframes === undefined ? {} : { sourceKeyframes: this.#sourceKeyframes }),
      encoder,
      ...(encoder === 'x264' ? { preset: this.#settings.preset } : {}),
      ...(encoder === 'vaapi' && this.#settings.vaapiDevice !== undefined ? { vaapiDevice: this.#settings.vaapiDevice } : {}),
      segmentSeconds: this.#settings.segmentSeconds,
      partSeconds: this.#settings.partSeconds,
      audio: this.#run?.tracks.audio ?? false,
      audioKbps: this.#settings.audioKbps,
      progressUrl: 'pipe:3',
      ...(this.#run?.matroska === undefined ? {} : { inputFormat: 'matroska' as const }),
      firstFd: OUTPUT_FD,
    });
  }

  /**
   * Starts a run: a new run of the packager (after a discontinuity unless it
   * is the first), ffmpeg fed the stored configuration and then media from the
   * next keyframe, each of its CMAF pipes feeding its track.
   */
  #spawn(): void {
    if (this.#ended || this.#args === undefined) return;
    const run = this.packager.beginRun(this.#tracks);
    const copied = this.#copyRung;
    this.#lastKey = undefined;
    this.#copy = copied === undefined || this.#avcC === undefined ? undefined : new PassthroughTrack(this.packager, copied.name, run, this.#avcC, this.#settings.partSeconds);
    const inputs = this.#tracks.filter((t) => t.name !== copied?.name).map((t) => new TrackInput(this.packager, t.name, run));
    const process = new FfmpegProcess({ binary: this.#settings.ffmpegPath, args: this.#args, log: this.#log, outputs: inputs.length });
    this.#process = process;
    process.on('progress', (p) => {
      this.state.progress = p;
      // An audio-only run encodes no frames: its output time says it is encoding.
      if (this.state.status === 'starting' && (p.frame > 0 || (this.state.rungs.length === 0 && p.outTimeSeconds > 0))) {
        this.state.status = 'encoding';
      }
    });
    process.on('output', (i, bytes) => {
      try {
        inputs[i]!.push(bytes, Date.now());
      } catch (err) {
        // A malformed output cannot be packaged: the run counts as a death (restart policy) and is killed.
        if (this.#malformed.has(process)) return;
        const reason = `output of track ${inputs[i]!.track} cannot be packaged: ${(err as Error).message}`;
        this.#malformed.set(process, reason);
        this.#log.error({ err, track: inputs[i]!.track }, 'ffmpeg output cannot be packaged');
        process.kill();
      }
    });
    process.on('exit', (exit) => this.#onExit(process, exit));
    process.start();
    process.write(this.#feed.start(this.#run!.tracks, this.#run!.matroska));
    this.#log.info({ pid: process.pid, run }, 'ffmpeg started');
  }

  #onExit(process: FfmpegProcess, given: FfmpegExit): void {
    if (process !== this.#process) return;
    this.#copy?.flush(Date.now());
    this.#copy = undefined;
    const malformed = this.#malformed.get(process);
    this.#malformed.delete(process);
    const exit: FfmpegExit = malformed === undefined ? given : { ...given, kind: 'died', message: malformed };
    if (this.#rollovers.delete(process) && !this.#ended) {
      this.#spawn();
      return;
    }
    if (exit.kind === 'stopped') {
      if (this.state.status !== 'error') this.state.status = 'complete';
      this.#log.info({ code: exit.code }, 'ffmpeg finished');
      return;
    }
    this.#log.warn({ kind: exit.kind, code: exit.code, signal: exit.signal, reason: exit.message }, 'ffmpeg exited unexpectedly');
    const decision = this.#policy.onDeath({ kind: exit.kind, message: exit.message }, this.state.encoder, Date.now());
    if (decision.action === 'give-up') {
      this.#giveUp(decision.reason);
      return;
    }
    if (decision.action === 'fallback') {
      this.#fallBack(decision.reason);
      return;
    }
    this.state.status = 'starting';
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.state.restarts++;
      this.#spawn();
    }, decision.delayMs);
  }

  /**
   * Restarts this stream at once with x264 (same ladder), resuming at the next
   * keyframe; health reports the fallback until the stream ends.
   */
  #fallBack(reason: string): void {
    const from = this.state.encoder;
    this.state.encoder = 'x264';
    this.state.fallback = { from, reason };
    this.#args = this.#buildArgs();
    this.#log.warn({ from, to: 'x264', reason }, 'encoder failed while running: this stream falls back to x264');
    this.state.status = 'starting';
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.state.restarts++;
      this.#spawn();
    }, 0);
  }

  #giveUp(reason: string): void {
    this.state.status = 'error';
    this.state.error = reason;
    this.#log.error({ reason }, 'transcoding stopped for this stream');
  }

  /** Finishes cleanly: ffmpeg reads EOF and finalises the playlists and manifest. */
  async end(): Promise<void> {
    if (this.#ended) return;
    // A stream shorter than the measuring window is still encoded, all of it.
    if (this.#window !== undefined && this.#window.heldCount > 0) this.#startHeld(this.#window.cut('the stream ended within the measuring window'));
    this.#ended = true;
    clearTimeout(this.#restartTimer);
    if (this.#process?.running) await this.#process.stop();
  }

  /** Kills ffmpeg at once (shutdown past its grace period, tests). */
  kill(): void {
    this.#ended = true;
    clearTimeout(this.#restartTimer);
    this.#process?.kill();
  }

  /**
   * Stops transcoding this stream for good, with `reason` as its error (the
   * output cannot be written: a restart would fail the same way). Ingest goes on.
   */
  fail(reason: string): void {
    if (this.state.status === 'error') return;
    this.#giveUp(reason);
    this.kill();
  }

  /** The running ffmpeg's pid, if any (tests, metrics). */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }
}
