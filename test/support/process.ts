import { spawn, type ChildProcess } from 'node:child_process';

/** True while a process with this pid exists (signal 0 probes without sending). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves with a child's exit code and signal once it has closed ('close',
 * not 'exit': by then its stdout and stderr have been read to the end); call it
 * right after spawn. A child that could not be spawned closes at once with a
 * negative code (its 'error' is swallowed: the code says it). If it is still
 * running after `boundMs`, it is killed with SIGKILL and this rejects naming
 * `what` and, when given, its last output.
 */
export function closedWithin(
  child: ChildProcess,
  boundMs: number,
  what: string,
  output?: () => string,
): Promise<[number | null, NodeJS.Signals | null]> {
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const tail = output?.().trim().split('\n').slice(-10).join('\n');
      reject(new Error(`timed out after ${boundMs} ms waiting for ${what} to exit (pid ${child.pid}); killed it${tail ? `. Its last output:\n${tail}` : ''}`));
    }, boundMs);
    // Without a listener a failed spawn's 'error' would be thrown; 'close' follows it.
    child.on('error', () => {});
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve([code, signal]);
    });
  });
  // A caller that bailed out early (a failed assertion) never awaits it: no unhandled rejection then.
  closed.catch(() => {});
  return closed;
}

/**
 * Runs `node` (or `binary`) with `args` in `cwd` as a run of its own: without
 * NODE_TEST_CONTEXT, so a `--test` child is not taken for a file of this run.
 * Resolves with its exit code, all it printed and how long it took (s), or
 * rejects naming `what` after `boundMs`.
 */
export async function runNodeChild(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; binary?: string; what: string; boundMs?: number },
): Promise<{ code: number | null; out: string; seconds: number }> {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const started = Date.now();
  const child = spawn(options.binary ?? process.execPath, [...args], { cwd: options.cwd, env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = await closedWithin(child, options.boundMs ?? 60_000, options.what, () => out);
  return { code, out, seconds: (Date.now() - started) / 1000 };
}
