/** Small helpers shared by the bench sections: statistics, ports, waiting, children. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** The q-quantile (0..1) of `values`, by linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

// One copy of the port helpers, shared with the tests.
export { accepts, freePort } from '../../test/support/ports.ts';

/** Polls `predicate` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A spawned child with its output collected and a promise of its 'close'. */
export interface Child {
  child: ChildProcess;
  pid: number;
  output: () => string;
  closed: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and waits for 'close'; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawns `file args`; stdout and stderr are kept (the last 64 kB) for error messages. */
export function start(file: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const child = spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 128_000) out = out.slice(-64_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // 'close', not 'exit': by then the output has been read to the end.
  const closed = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code));
    child.once('error', (err) => {
      out += `\nspawn failed: ${err.message}`;
      resolve(null);
    });
  });
  let done = false;
  void closed.then(() => (done = true));
  return {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    closed,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** Runs a command to the end; rejects with its output when it fails. */
export async function runToEnd(file: string, args: readonly string[], options: SpawnOptions = {}): Promise<string> {
  const c = start(file, args, options);
  const code = await c.closed;
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${code}:\n${c.output().slice(-4000)}`);
  return c.output();
}

/** Fixed-point formatting that keeps a dash for missing figures. */
export function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}
