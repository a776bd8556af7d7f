import type { AudioConfig, VideoConfig } from '../media/codec-types.ts';
import type { MediaMessage, StreamMetadata } from '../media/media-message.ts';
import type { Logger } from '../log.ts';
import type { StreamEntry } from '../streams/registry.ts';
import type { StreamPackager, TrackSpec } from '../package/stream-packager.ts';
import { TrackInput } from '../package/track-input.ts';
import { buildCmafPipeArgs, type EncoderKind } from './ffmpeg-args.ts';
import { FfmpegProcess, OUTPUT_FD, type FfmpegExit } from './ffmpeg-process.ts';
import { GopFeed } from './gop-feed.ts';
import { parseVideoTag } from '../media/flv-tag.ts';
import { decidePassthrough, fitRung, SourceMeter, type SourceMeasurement } from './passthrough-fit.ts';
import { flvTagTime, PassthroughTrack, type PassthroughState } from './passthrough.ts';
import { DEFAULT_LADDER, planLadder, type Rung } from './ladder.ts';
import type { FfmpegProgress } from './progress.ts';
import { RestartPolicy } from './restart-policy.ts';
import type { TranscodeState } from './transcode-state.ts';

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
 * One stream's ffmpeg: planned from the source once its sequence header is
 * known, fed FLV through the GOP feed, restarted with backoff when it dies
 * (resuming at the next keyframe), and finished cleanly at unpublish so the
 * playlists end with EXT-X-ENDLIST and the DASH manifest turns static.
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
  /** Runs stopped on purpose because their clock neared the FLV timestamp limit. */
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
    if (message.config) this.#remember(message);
    if (this.#process === undefined && this.#measuring(message)) return;
    if (this.#process === undefined && message.typeId === 9 && message.keyframe && !message.config) {
      if (!this.#feed.ready) return;
      this.#plan();
      this.#spawn();
    }
    this.#forward(message);
  }

  /**
   * The measuring window (passthrough-fit.ts): from the first keyframe, the
   * messages are held while SourceMeter measures the source's bitrate, frame
   * rate and GOP, then the ladder is planned from what it measured and ffmpeg
   * starts on the held messages, so nothing is lost; the first segment comes
   * that much later (2 GOPs, at most 3 segment durations). Returns true while
   * the message is held.
   */
  #measuring(message: MediaMessage): boolean {
    if (this.#meter === undefined) {
      if (this.#planned || !(message.typeId === 9 && message.keyframe && !message.config && this.#feed.ready)) return false;
      this.#planned = true;
      if (!this.#candidate()) return false;
      this.#meter = new SourceMeter(this.#settings.segmentSeconds);
      this.#setPassthrough({ status: 'measuring' });
    }
    const complete = this.#meter.push(message);
    if (!complete && this.#heldBytes + message.payload.length <= this.#settings.maxBacklogBytes) {
      this.#held.push({ ...message, payload: Buffer.from(message.payload) });
      this.#heldBytes += message.payload.length;
      return true;
    }
    this.#startHeld(complete ? undefined : `over ${this.#settings.maxBacklogBytes} bytes in the measuring window`);
    this.#forward(message);
    return true;
  }

  /**
   * Ends the measuring window: plans (passing the source through only when
   * the window is complete; otherwise `cut` says why not), starts ffmpeg and
   * hands it, and the remux, every held message.
   */
  #startHeld(cut: string | undefined): void {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    const meter = this.#meter!;
    this.#meter = undefined;
    if (cut === undefined) {
      this.#measurement = meter.measurement;
      this.#plan(this.#measurement, true);
    } else {
      this.#setPassthrough({ status: 'off', reason: cut });
      this.#plan();
    }
    this.#spawn();
    for (const m of held) this.#forward(m);
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

  /** Passthrough (passthrough-fit.ts): the measuring window's meter and held messages, the decision's rung. */
  #planned = false;
  #meter: SourceMeter | undefined;
  #measurement: SourceMeasurement | undefined;
  #held: MediaMessage[] = [];
  #heldBytes = 0;
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
    const fps = this.#metadata['framerate'];
    return typeof fps === 'number' && fps > 0 ? { fps } : {};
  }

  /** The ladder this source gets with what its headers declare (onMetaData caps). */
  #declaredPlan(): Rung[] {
    const video = this.#video!;
    const kbps = this.#metadata['videodatarate'];
    return planLadder(
      this.#settings.ladder ?? DEFAULT_LADDER,
      { width: video.width, height: video.height, ...this.#declaredFps(), ...(typeof kbps === 'number' && kbps > 0 ? { bitrateKbps: kbps } : {}) },
      this.#settings.maxHeight,
    );
  }

  /**
   * Whether the source may pass through, from its sequence header and the
   * plan alone (codec, profile, size, another rung left to encode): only then
   * is it measured before ffmpeg starts. Says why not otherwise.
   */
  #candidate(): boolean {
    if (!this.#passthroughAllowed || this.#video === undefined) return false;
    const planned = this.#declaredPlan();
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
    this.#plan(this.#measurement);
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
  #metadata: StreamMetadata = {};

  #remember(message: MediaMessage): void {
    const info = message.info;
    if (info?.video !== undefined) {
      this.#video = info.video;
      const tag = parseVideoTag(message.payload);
      if (tag.codec === 'h264' && tag.packet === 'sequence-start' && this.#avcC === undefined) this.#avcC = Buffer.from(tag.payload);
    }
    if (info?.audio !== undefined) this.#audio = info.audio;
    if (info?.metadata !== undefined) this.#metadata = info.metadata;
  }

  /**
   * Plans the ladder: bitrates capped at the bitrate measured over the first
   * seconds (else the one onMetaData declares), and the top rung passed
   * through when the source fits (passthrough-fit.ts).
   */
  #plan(measured?: SourceMeasurement, decide = false): void {
    const video = this.#video!;
    const ladder = this.#settings.ladder ?? DEFAULT_LADDER;
    // Measured figures win over what onMetaData declares; the frame rate is not capped by a measurement (ms timestamps jitter).
    const planned = measured === undefined || !(measured.kbps > 0)
      ? this.#declaredPlan()
      : planLadder(ladder, { width: video.width, height: video.height, bitrateKbps: measured.kbps, ...this.#declaredFps() }, this.#settings.maxHeight);
    let rungs = planned;
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
    this.state.rungs = rungs;
    this.#tracks = [
      ...rungs.map((r): TrackSpec => ({ name: r.name, kind: 'video', bandwidth: r.bitrateKbps * 1000, frameRate: r.fps })),
      ...(this.#audio === undefined ? [] : [{ name: 'audio', kind: 'audio' as const, bandwidth: this.#settings.audioKbps * 1000 }]),
    ];
    this.#args = this.#buildArgs();
    this.#log.info({ rungs: rungs.map((r) => r.name) }, 'transcode planned');
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
      audio: this.#audio !== undefined,
      audioKbps: this.#settings.audioKbps,
      progressUrl: 'pipe:3',
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
      if (this.state.status === 'starting' && p.frame > 0) this.state.status = 'encoding';
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
    process.write(this.#feed.start());
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
    if (this.#meter !== undefined && this.#held.length > 0) this.#startHeld('the stream ended within the measuring window');
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
