import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AudioConfig, VideoConfig } from '../media/codec-types.ts';
import type { MediaMessage, StreamMetadata } from '../media/media-message.ts';
import type { Logger } from '../log.ts';
import type { StreamEntry } from '../streams/registry.ts';
import { buildFfmpegArgs, type EncoderKind } from './ffmpeg-args.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg-process.ts';
import { GopFeed } from './gop-feed.ts';
import { DEFAULT_LADDER, planLadder, type Rung } from './ladder.ts';
import { augmentMasterPlaylist, FFMPEG_MASTER_NAME, PUBLISHED_MASTER_FILE } from './master-playlist.ts';
import type { FfmpegProgress } from './progress.ts';
import { RestartPolicy } from './restart-policy.ts';
import type { TranscodeState } from './transcode-state.ts';

export type { EncoderFallback, TranscodeState } from './transcode-state.ts';

/** Transcoding settings shared by every stream (the `transcode` config section). */
export interface TranscodeSettings {
  ffmpegPath: string;
  /**
   * The ffmpeg takes `-hls_master_name` (≥ 4.3; see ffmpeg/features.ts). Without
   * it (the static 4.2 the executable carries) ffmpeg writes master.m3u8 itself,
   * once per run and by rename; it is completed from there (see #publishMaster). Default true.
   */
  hlsMasterName?: boolean;
  /** The encoder start-up detection chose; a stream falls back to x264 when it fails while running. */
  encoder: EncoderKind;
  /** VAAPI render node (the one detection proved). */
  vaapiDevice?: string;
  /** x264 preset (hardware encoders use their own default). */
  preset: string;
  segmentSeconds: number;
  windowSegments: number;
  audioKbps: number;
  maxBacklogBytes: number;
  /** Tallest rung allowed (RTMP_MAX_RESOLUTION). */
  maxHeight: number;
  ladder?: readonly Rung[];
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
  readonly dir: string;
  readonly state: TranscodeState;
  readonly #settings: TranscodeSettings;
  readonly #log: Logger;
  readonly #feed: GopFeed;
  #process: FfmpegProcess | undefined;
  #args: string[] | undefined;
  readonly #policy = new RestartPolicy();
  #restartTimer: NodeJS.Timeout | undefined;
  #ended = false;
  #preparing: Promise<void> | undefined;

  constructor(entry: StreamEntry, outputRoot: string, settings: TranscodeSettings, log: Logger) {
    this.entry = entry;
    this.dir = join(outputRoot, entry.key);
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
    if (this.#process === undefined && this.#preparing === undefined && message.typeId === 9 && message.keyframe && !message.config) {
      if (!this.#feed.ready) return;
      this.#pending.push(this.#feed.start());
      this.#preparing = this.#prepare().then(
        () => this.#spawn(false),
        (err: unknown) => this.#giveUp(`cannot prepare ${this.dir}: ${(err as Error).message}`),
      );
    }
    const tag = this.#feed.push(message, this.#process?.backlog ?? 0);
    this.state.droppedGops = this.#feed.stats.droppedGops;
    this.state.droppedFrames = this.#feed.stats.droppedFrames;
    if (tag === undefined) return;
    if (this.#process?.running) this.#process.write(tag);
    else if (this.#preparing !== undefined && this.#process === undefined) this.#pending.push(tag);
  }

  /** Tags that arrived while the output directory was being prepared. */
  #pending: Buffer[] = [];
  /** The source as its configuration messages describe it (the ladder is planned from these). */
  #video: VideoConfig | undefined;
  #audio: AudioConfig | undefined;
  #metadata: StreamMetadata = {};

  #remember(message: MediaMessage): void {
    const info = message.info;
    if (info?.video !== undefined) this.#video = info.video;
    if (info?.audio !== undefined) this.#audio = info.audio;
    if (info?.metadata !== undefined) this.#metadata = info.metadata;
  }

  async #prepare(): Promise<void> {
    const video = this.#video!;
    const metadata = this.#metadata;
    const fps = typeof metadata['framerate'] === 'number' ? metadata['framerate'] : undefined;
    const kbps = typeof metadata['videodatarate'] === 'number' ? metadata['videodatarate'] : undefined;
    const rungs = planLadder(
      this.#settings.ladder ?? DEFAULT_LADDER,
      { width: video.width, height: video.height, ...(fps ? { fps } : {}), ...(kbps ? { bitrateKbps: kbps } : {}) },
      this.#settings.maxHeight,
    );
    this.state.rungs = rungs;
    this.#args = this.#buildArgs();
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
    this.#log.info({ rungs: rungs.map((r) => r.name), dir: this.dir }, 'transcode planned');
  }

  /** The live run's arguments for the stream's current encoder. */
  #buildArgs(): string[] {
    const { encoder } = this.state;
    return buildFfmpegArgs({
      rungs: this.state.rungs,
      encoder,
      ...(encoder === 'x264' ? { preset: this.#settings.preset } : {}),
      ...(encoder === 'vaapi' && this.#settings.vaapiDevice !== undefined ? { vaapiDevice: this.#settings.vaapiDevice } : {}),
      segmentSeconds: this.#settings.segmentSeconds,
      windowSegments: this.#settings.windowSegments,
      audio: this.#audio !== undefined,
      audioKbps: this.#settings.audioKbps,
      outputDir: this.dir,
      progressUrl: 'pipe:3',
      ...(this.#settings.hlsMasterName === false ? {} : { hlsMasterName: FFMPEG_MASTER_NAME }),
    });
  }

  /** Starts a run: the first writes what queued during preparation, a restart replays the configuration. */
  #spawn(restart: boolean): void {
    if (this.#ended || this.#args === undefined) return;
    const process = new FfmpegProcess({ binary: this.#settings.ffmpegPath, args: this.#args, log: this.#log });
    this.#process = process;
    process.on('progress', (p) => {
      this.state.progress = p;
      if (this.state.status === 'starting' && p.frame > 0) this.state.status = 'encoding';
    });
    process.on('exit', (exit) => this.#onExit(process, exit));
    process.start();
    this.#publishMaster(process);
    if (restart) this.#pending = [this.#feed.start()];
    for (const tag of this.#pending.splice(0)) process.write(tag);
    this.#log.info({ pid: process.pid }, 'ffmpeg started');
  }

  /**
   * ffmpeg writes its master playlist once per run, after the first segment:
   * to FFMPEG_MASTER_NAME with `-hls_master_name`, else (ffmpeg < 4.3) to
   * master.m3u8. Either way it is completed (AVERAGE-BANDWIDTH, FRAME-RATE) and
   * published atomically, by rename, as PUBLISHED_MASTER_FILE, which is what
   * HTTP serves for master.m3u8: a player never sees ffmpeg's own.
   */
  #publishMaster(process: FfmpegProcess): void {
    const inPlace = this.#settings.hlsMasterName === false;
    const source = join(this.dir, inPlace ? 'master.m3u8' : FFMPEG_MASTER_NAME);
    const audioKbps = this.#audio === undefined ? 0 : this.#settings.audioKbps;
    let done = false;
    let watcher: FSWatcher | undefined;
    const stop = (): void => {
      clearInterval(poll);
      watcher?.close();
    };
    const check = (): void => {
      if (done || !process.running || process !== this.#process) {
        stop();
        return;
      }
      readFile(source, 'utf8').then(
        async (text) => {
          if (done || !text.includes('#EXT-X-STREAM-INF')) return;
          const augmented = augmentMasterPlaylist(text, this.state.rungs, audioKbps);
          done = true;
          stop();
          const target = join(this.dir, PUBLISHED_MASTER_FILE);
          // Not `master.m3u8.tmp`: that is ffmpeg's own temporary name before 4.3.
          await writeFile(`${target}.augment.tmp`, augmented);
          await rename(`${target}.augment.tmp`, target);
        },
        () => {}, // not written yet
      ).catch((err: unknown) => this.#log.warn({ err }, 'cannot publish master.m3u8'));
    };
    const poll = setInterval(check, 100);
    if (inPlace) {
      try {
        watcher = watch(this.dir, (_event, file) => {
          if (file === 'master.m3u8') check();
        });
        watcher.on('error', () => watcher?.close()); // the directory went away: the poll carries on
      } catch {
        // no inotify: the poll alone
      }
    }
  }

  #onExit(process: FfmpegProcess, exit: FfmpegExit): void {
    if (process !== this.#process) return;
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
      this.#spawn(true);
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
      this.#spawn(true);
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
    this.#ended = true;
    clearTimeout(this.#restartTimer);
    await this.#preparing;
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
