import { spawn } from 'node:child_process';

/**
 * The systemd readiness protocol (sd_notify(3)), spoken through systemd-notify(1).
 *
 * Why a child process: the protocol is one datagram on the AF_UNIX socket named
 * by NOTIFY_SOCKET, and Node (like the SEA built from it) cannot send to an
 * AF_UNIX datagram socket without a native addon. systemd-notify is the
 * reference client and ships with systemd wherever NOTIFY_SOCKET can be set.
 * The old objection to it, that the manager may see the message only after the
 * short-lived sender exited and so cannot attribute it to our cgroup, is gone
 * since systemd 246: without `--no-block`, systemd-notify sends, then waits on
 * a BARRIER=1 round trip (sd_notify_barrier(3)) until the manager has processed
 * the message, so the sender is alive when it is attributed. The unit sets
 * NotifyAccess=all because the sender is a child, not the main PID (when
 * systemd-notify runs with enough privilege it even sends with our PID).
 *
 * Nothing is spawned when NOTIFY_SOCKET is unset (not under a Type=notify unit).
 */

/** One notification: each set field becomes a VARIABLE=VALUE line (sd_notify(3)). */
export interface NotifyMessage {
  /** READY=1: start-up finished, every listener accepts connections. */
  ready?: boolean;
  /** STOPPING=1: the drain has begun. */
  stopping?: boolean;
  /** WATCHDOG=1: keep-alive for WatchdogSec=. */
  watchdog?: boolean;
  /** STATUS=: one line for `systemctl status`. */
  status?: string;
}

/** Pure: the systemd-notify(1) arguments for a message (its VARIABLE=VALUE list). */
export function notifyArgs(message: NotifyMessage): string[] {
  const args: string[] = [];
  if (message.ready) args.push('READY=1');
  if (message.stopping) args.push('STOPPING=1');
  if (message.watchdog) args.push('WATCHDOG=1');
  // A newline would start another variable: a status is kept to one line.
  if (message.status !== undefined) args.push(`STATUS=${message.status.replace(/[\r\n]+/g, ' ').trim()}`);
  return args;
}

/**
 * Pure: the watchdog ping interval in ms, half of WATCHDOG_USEC as sd_watchdog_enabled(3)
 * advises, or undefined when no watchdog is asked for this process (unset, not a
 * positive integer, or WATCHDOG_PID naming another process).
 */
export function watchdogIntervalMs(usec: string | undefined, watchdogPid: string | undefined, pid: number): number | undefined {
  if (usec === undefined || !/^\d+$/.test(usec)) return undefined;
  if (watchdogPid !== undefined && watchdogPid !== '' && watchdogPid !== String(pid)) return undefined;
  const ms = Math.floor(Number(usec) / 2000);
  return ms > 0 ? ms : undefined;
}

/** How an SdNotifier is built. */
export interface SdNotifierOptions {
  /** The NOTIFY_SOCKET value handed to systemd-notify. */
  socket: string;
  /** Ping WATCHDOG=1 this often once startWatchdog() is called; undefined: no watchdog. */
  watchdogMs?: number | undefined;
  /** The systemd-notify binary (looked up on PATH). */
  command?: string;
  /** A notification that could not be sent (spawn failure, non-zero exit); never thrown. */
  onError?: (err: Error, message: NotifyMessage) => void;
}

/** Longest a systemd-notify may take (its barrier waits at most 5 s) before it is killed. */
const SEND_TIMEOUT_MS = 10_000;

/** Sends notifications to the service manager; see the module comment for the why. */
export class SdNotifier {
  readonly #socket: string;
  readonly #command: string;
  readonly #watchdogMs: number | undefined;
  readonly #onError: (err: Error, message: NotifyMessage) => void;
  readonly #inFlight = new Set<Promise<void>>();
  #watchdog: NodeJS.Timeout | undefined;
  #pinging = false;

  constructor(options: SdNotifierOptions) {
    this.#socket = options.socket;
    this.#command = options.command ?? 'systemd-notify';
    this.#watchdogMs = options.watchdogMs;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * The notifier for this process when run by systemd with NOTIFY_SOCKET set,
   * else undefined. NOTIFY_SOCKET and WATCHDOG_* are taken out of `env` (as
   * sd_notify(3) does with unset_environment) so that ffmpeg and other children
   * never inherit them.
   */
  static fromEnv(env: NodeJS.ProcessEnv, options: Omit<SdNotifierOptions, 'socket' | 'watchdogMs'> = {}, pid = process.pid): SdNotifier | undefined {
    const socket = env['NOTIFY_SOCKET'];
    const watchdogMs = watchdogIntervalMs(env['WATCHDOG_USEC'], env['WATCHDOG_PID'], pid);
    delete env['NOTIFY_SOCKET'];
    delete env['WATCHDOG_USEC'];
    delete env['WATCHDOG_PID'];
    if (socket === undefined || socket === '') return undefined;
    return new SdNotifier({ ...options, socket, watchdogMs });
  }

  /** The watchdog interval in ms, when the manager asked for one. */
  get watchdogMs(): number | undefined {
    return this.#watchdogMs;
  }

  /** Sends one notification; resolves once systemd-notify is done (never rejects). */
  notify(message: NotifyMessage): Promise<void> {
    const args = notifyArgs(message);
    if (args.length === 0) return Promise.resolve();
    const sent = new Promise<void>((resolve) => {
      const child = spawn(this.#command, args, {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NOTIFY_SOCKET: this.#socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), SEND_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        this.#onError(err, message);
        resolve();
      });
      // 'close', not 'exit': stderr has been read to the end by then.
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code !== 0 && code !== null) this.#onError(new Error(`${this.#command} exited ${code}: ${stderr.trim()}`), message);
        else if (signal !== null) this.#onError(new Error(`${this.#command} killed by ${signal}`), message);
        resolve();
      });
    });
    this.#inFlight.add(sent);
    void sent.then(() => this.#inFlight.delete(sent));
    return sent;
  }

  /**
   * Pings WATCHDOG=1 every watchdogMs (no-op without a watchdog), with `status()`
   * as the STATUS= line; a ping still in flight is never doubled. The timer does
   * not keep the process alive.
   */
  startWatchdog(status?: () => string): void {
    if (this.#watchdogMs === undefined || this.#watchdog !== undefined) return;
    this.#watchdog = setInterval(() => {
      if (this.#pinging) return;
      this.#pinging = true;
      let line: string | undefined;
      try {
        line = status?.();
      } catch (err) {
        this.#onError(err as Error, { watchdog: true });
      }
      void this.notify({ watchdog: true, ...(line !== undefined ? { status: line } : {}) }).finally(() => {
        this.#pinging = false;
      });
    }, this.#watchdogMs);
    this.#watchdog.unref();
  }

  /** Stops the watchdog and waits for every notification still being sent. */
  async close(): Promise<void> {
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    await Promise.all([...this.#inFlight]);
  }
}
