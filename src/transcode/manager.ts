import { mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { NULL_SINK, type StreamSink } from '../media/stream-sink.ts';
import type { StreamEntry, StreamSinkFactory } from '../streams/registry.ts';
import { StreamTranscoder, type TranscodeSettings } from './stream-transcoder.ts';

/** Marks a directory as ours, so start-up may clean it. */
const MARKER = '.proxy-rtmp-output';

/**
 * The output root: the configured directory, else systemd's RuntimeDirectory
 * (a tmpfs: edge boxes run on flash), else `<tmpdir>/proxy-rtmp`.
 */
export function resolveOutputRoot(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  if (configured !== '') return configured;
  const runtime = env['RUNTIME_DIRECTORY']?.split(':')[0];
  return runtime ? join(runtime, 'streams') : join(tmpdir(), 'proxy-rtmp');
}

/** How often output usage (with a quota) and the output filesystem's free space are measured. */
export const QUOTA_SCAN_MS = 1000;

/**
 * Free space on the output filesystem below which it counts as full: less than
 * any segment. ffmpeg's dash muxer does not report failed writes (it keeps
 * running and leaves empty playlists), so a full disk is detected here.
 */
export const DISK_FULL_BYTES = 64 * 1024;

/** Bytes of the files in the stream directories under `root` (one level deep, as we write them). */
export async function outputUsage(root: string): Promise<number> {
  let total = 0;
  for (const dir of await readdir(root, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    const names = await readdir(join(root, dir.name)).catch(() => [] as string[]);
    for (const name of names) total += (await stat(join(root, dir.name, name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Lifetime settings of the output. */
export interface OutputPolicy {
  /** How long a finished stream's output stays. */
  lingerMs: number;
  /** Total output above which new streams are not transcoded; 0: no quota. */
  quotaBytes: number;
}

/**
 * One StreamTranscoder per live stream. At unpublish the stream's output stays
 * for the linger time (players see ENDLIST), then is deleted; a re-publish of
 * the key within the linger replaces it. Start-up removes stale output, but
 * only from a directory that is empty or carries our marker file.
 */
export class TranscodeManager implements StreamSinkFactory {
  readonly root: string;
  readonly #settings: TranscodeSettings;
  readonly #policy: OutputPolicy;
  readonly #log: Logger;
  readonly #live = new Map<string, StreamTranscoder>();
  readonly #lingering = new Map<string, NodeJS.Timeout>();
  readonly #ending = new Set<Promise<void>>();
  #scan: NodeJS.Timeout | undefined;
  /** Output bytes at the last scan (only measured when a quota is set). */
  usageBytes = 0;
  /** Free bytes on the output filesystem at the last scan; undefined until measured or when it cannot be. */
  freeBytes: number | undefined;

  constructor(root: string, settings: TranscodeSettings, policy: OutputPolicy, log: Logger) {
    this.root = root;
    this.#settings = settings;
    this.#policy = policy;
    this.#log = log;
  }

  /** Creates the root and removes what an earlier run left there. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const names = await readdir(this.root);
    if (names.length > 0 && !names.includes(MARKER)) {
      throw new Error(`output directory ${this.root} is not empty and was not made by proxy-rtmp; refusing to clean it`);
    }
    for (const name of names) {
      if (name !== MARKER) await rm(join(this.root, name), { recursive: true, force: true });
    }
    await writeFile(join(this.root, MARKER), 'HLS/DASH output of proxy-rtmp; cleaned at every start.\n');
    this.#scan = setInterval(() => this.#measure(), QUOTA_SCAN_MS);
    this.#scan.unref();
    this.#log.info({ dir: this.root, cleaned: Math.max(0, names.length - 1) }, 'output directory ready');
  }

  #measure(): void {
    if (this.#policy.quotaBytes > 0) {
      outputUsage(this.root).then(
        (bytes) => (this.usageBytes = bytes),
        (err: unknown) => this.#log.warn({ err }, 'cannot measure output usage'),
      );
    }
    statfs(this.root).then(
      (fs) => {
        this.freeBytes = fs.bavail * fs.bsize;
        if (this.freeBytes >= DISK_FULL_BYTES) return;
        for (const transcoder of this.#live.values()) {
          if (transcoder.state.status !== 'error') transcoder.fail(this.#diskFullMessage());
        }
      },
      () => (this.freeBytes = undefined),
    );
  }

  #diskFullMessage(): string {
    return `output disk full (${Math.floor((this.freeBytes ?? 0) / 1024)} KiB free on ${this.root}): No space left on device`;
  }

  /** The transcoder of a live key. */
  get(key: string): StreamTranscoder | undefined {
    return this.#live.get(key);
  }

  /**
   * A published stream's sink: its transcoder, fed directly; nothing (the
   * stream is ingested, not transcoded) when the output quota or disk is full.
   */
  open(entry: StreamEntry): StreamSink {
    clearTimeout(this.#lingering.get(entry.key));
    this.#lingering.delete(entry.key);
    const { quotaBytes } = this.#policy;
    if (quotaBytes > 0 && this.usageBytes >= quotaBytes) {
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      const error = `output quota full (${mb(this.usageBytes)} of ${mb(quotaBytes)} MB, RTMP_DISK_QUOTA_MB): this stream is not transcoded`;
      this.#log.warn({ key: entry.key, usageBytes: this.usageBytes, quotaBytes }, error);
      return { ...NULL_SINK, error };
    }
    if (this.freeBytes !== undefined && this.freeBytes < DISK_FULL_BYTES) {
      const error = `${this.#diskFullMessage()}: this stream is not transcoded`;
      this.#log.warn({ key: entry.key, freeBytes: this.freeBytes }, error);
      return { ...NULL_SINK, error };
    }
    const transcoder = new StreamTranscoder(entry, this.root, this.#settings, this.#log);
    this.#live.set(entry.key, transcoder);
    const log = this.#log;
    return {
      push(message) {
        try {
          transcoder.onMedia(message);
        } catch (err) {
          // A transcoder bug must not take the publisher down.
          log.error({ err, key: entry.key }, 'transcoder failed to take a media message');
        }
      },
      end: () => this.#end(entry, transcoder),
    };
  }

  /** At unpublish: ffmpeg finishes, the output lingers, then goes. */
  #end(entry: StreamEntry, transcoder: StreamTranscoder): void {
    if (this.#live.get(entry.key) !== transcoder) return;
    this.#live.delete(entry.key);
    const ending = transcoder.end().then(() => {
      if (this.#live.has(entry.key)) return; // published again meanwhile: the new run owns the directory
      const timer = setTimeout(() => {
        this.#lingering.delete(entry.key);
        if (this.#live.has(entry.key)) return;
        // Retried: a last write of the finished run (the master playlist's rename) may still land.
        rm(transcoder.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 }).then(
          () => this.#log.info({ key: entry.key }, 'output removed after linger'),
          (err: unknown) => this.#log.warn({ key: entry.key, err }, 'cannot remove output'),
        );
      }, this.#policy.lingerMs);
      timer.unref();
      this.#lingering.set(entry.key, timer);
    });
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending));
  }

  /** Ends every transcoder (clean finish first, then kill after `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    clearInterval(this.#scan);
    const live = [...this.#live.values()];
    this.#live.clear();
    const done = Promise.all([...live.map((t) => t.end()), ...this.#ending]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const t of live) t.kill();
    for (const timer of this.#lingering.values()) clearTimeout(timer);
    this.#lingering.clear();
  }
}
