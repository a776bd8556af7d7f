import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable, Readable } from 'node:stream';
import type { Logger } from '../log.ts';
import { TypedEmitter } from '../util/events.ts';
import { ProgressParser, type FfmpegProgress } from './progress.ts';

/** How an ffmpeg run ended: stopped by us, never started, or died on its own. */
export type FfmpegExitKind = 'stopped' | 'spawn-failed' | 'died';

/** The one `exit` report of a run. */
export interface FfmpegExit {
  kind: FfmpegExitKind;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, for people: the spawn error, or ffmpeg's last stderr lines. */
  message: string;
}

/** Events of one ffmpeg run. */
export interface FfmpegProcessEvents extends Record<string, unknown[]> {
  progress: [FfmpegProgress];
  /** Bytes from output pipe `index` (file descriptor OUTPUT_FD + index), in order. */
  output: [number, Buffer];
  exit: [FfmpegExit];
}

/** The file descriptor of the first output pipe (0 stdin, 2 stderr, 3 progress). */
export const OUTPUT_FD = 4;

/** Settings of one ffmpeg run. */
export interface FfmpegProcessOptions {
  binary: string;
  /** Arguments; `-progress pipe:3` in them makes progress events flow. */
  args: readonly string[];
  log: Logger;
  /** stderr lines logged per second at most; the rest are counted and summarised. */
  stderrLinesPerSecond?: number;
  /** How long `stop()` waits for a clean exit before SIGTERM, then SIGKILL. */
  stopTimeoutMs?: number;
  /** Output pipes at OUTPUT_FD, OUTPUT_FD + 1, …, read as `output` events (default none). */
  outputs?: number;
}

/**
 * One ffmpeg child fed on stdin (mediasoup's worker pattern): private state, a
 * typed event map, and `exit` emitted exactly once with one of three kinds.
 * stdin closing is also how a killed parent stops it: ffmpeg reads EOF and exits.
 */
export class FfmpegProcess extends TypedEmitter<FfmpegProcessEvents> {
  readonly #options: FfmpegProcessOptions;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #stdin: Writable | undefined;
  #stopping = false;
  #exited = false;
  #tail: string[] = [];
  #logged = 0;
  #suppressed = 0;
  #windowStart = 0;

  constructor(options: FfmpegProcessOptions) {
    super((err, event) => options.log.error({ err, event }, 'ffmpeg listener failed'));
    this.#options = options;
    this.#log = options.log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && !this.#exited;
  }

  /** Bytes written to stdin that the pipe has not taken yet. */
  get backlog(): number {
    return this.#stdin?.writableLength ?? 0;
  }

  start(): void {
    if (this.#child !== undefined) throw new Error('ffmpeg run already started');
    const child = spawn(this.#options.binary, [...this.#options.args], {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe', ...Array.from({ length: this.#options.outputs ?? 0 }, () => 'pipe' as const)],
      detached: false,
    });
    this.#child = child;
    this.#stdin = child.stdin!;
    // EPIPE when ffmpeg dies is reported through 'exit'; the write error itself is noise.
    child.stdin!.on('error', () => {});
    const progress = new ProgressParser();
    (child.stdio[3] as Readable | null)?.on('data', (d: Buffer) => {
      for (const p of progress.push(d.toString('latin1'))) this.safeEmit('progress', p);
    });
    for (let i = 0; i < (this.#options.outputs ?? 0); i++) {
      (child.stdio[OUTPUT_FD + i] as Readable | null)?.on('data', (d: Buffer) => this.safeEmit('output', i, d));
    }
    let pending = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (pending + d.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > 4096) pending = '';
      for (const line of lines) this.#stderrLine(line.trimEnd());
    });
    child.once('error', (err) => this.#finish('spawn-failed', null, null, `cannot start ${this.#options.binary}: ${err.message}`));
    // 'close' (not 'exit'): it comes after stderr and the outputs have been read to the end,
    // so the reason is complete and every fragment has been delivered.
    child.once('close', (code, signal) => {
      if (pending.length > 0) this.#stderrLine(pending.trimEnd());
      if (this.#suppressed > 0) this.#log.warn({ suppressed: this.#suppressed }, 'ffmpeg stderr lines not logged (rate limit)');
      const kind: FfmpegExitKind = this.#stopping ? 'stopped' : 'died';
      this.#finish(kind, code, signal, this.#tail.join(' | ') || `exit code ${code} signal ${signal}`);
    });
  }

  /** Writes FLV bytes; ignored once the run has ended. */
  write(bytes: Buffer): void {
    if (this.#exited || this.#stdin === undefined || this.#stdin.destroyed) return;
    this.#stdin.write(bytes);
  }

  /**
   * Ends stdin so ffmpeg finishes its outputs (HLS ENDLIST, static DASH
   * manifest), then escalates to SIGTERM and SIGKILL if it lingers.
   */
  stop(): Promise<FfmpegExit> {
    const exited = new Promise<FfmpegExit>((resolve) => {
      if (this.#exited || this.#child === undefined) {
        resolve({ kind: 'stopped', code: this.#child?.exitCode ?? null, signal: null, message: 'not running' });
        return;
      }
      this.once('exit', resolve);
    });
    if (this.#child !== undefined && !this.#exited && !this.#stopping) {
      this.#stopping = true;
      this.#stdin?.end();
      const timeout = this.#options.stopTimeoutMs ?? 5000;
      const child = this.#child;
      const term = setTimeout(() => child.kill('SIGTERM'), timeout);
      const kill = setTimeout(() => child.kill('SIGKILL'), timeout * 2);
      term.unref();
      kill.unref();
      void exited.then(() => {
        clearTimeout(term);
        clearTimeout(kill);
      });
    }
    return exited;
  }

  /** Kills at once (tests, shutdown after the grace period). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#child !== undefined && !this.#exited) {
      this.#stopping = true;
      this.#child.kill(signal);
    }
  }

  #stderrLine(line: string): void {
    if (line.length === 0) return;
    this.#tail.push(line.slice(0, 300));
    if (this.#tail.length > 5) this.#tail.shift();
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      if (this.#suppressed > 0) this.#log.warn({ suppressed: this.#suppressed }, 'ffmpeg stderr lines not logged (rate limit)');
      this.#windowStart = now;
      this.#logged = 0;
      this.#suppressed = 0;
    }
    if (this.#logged < (this.#options.stderrLinesPerSecond ?? 5)) {
      this.#logged++;
      this.#log.warn({ ffmpeg: line.slice(0, 1000) }, 'ffmpeg says');
    } else {
      this.#suppressed++;
    }
  }

  #finish(kind: FfmpegExitKind, code: number | null, signal: NodeJS.Signals | null, message: string): void {
    if (this.#exited) return;
    this.#exited = true;
    this.safeEmit('exit', { kind, code, signal, message });
  }
}
