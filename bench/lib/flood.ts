/**
 * Runs bench/lib/flood-sender.ts (bundled into bench/.cache) as its own
 * process: one publisher that pushes a fixed number of bytes as fast as the
 * server takes them, and says when the server has parsed them all.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { CACHE_DIR } from './inputs.ts';
import { start } from './util.ts';

/** What one flood publish measured (bytes are RTMP bytes on the wire). */
export interface FloodResult {
  bytes: number;
  seconds: number;
  /** The highest Acknowledgement the server sent (0 when it sends none). */
  acked: number;
  senderCpuSeconds: number;
  chunkSize: number;
  /** True when the clock stopped at the server's answer to a trailing command. */
  synced: boolean;
}

let bundled: Promise<string> | undefined;

/** Builds the sender once per bench run. */
export function floodSenderBundle(): Promise<string> {
  bundled ??= (async () => {
    const out = join(CACHE_DIR, 'flood-sender.cjs');
    await build({ entryPoints: [join(import.meta.dirname, 'flood-sender.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
    return out;
  })();
  return bundled;
}

/** Publishes `key` on `port` (or with `raw`, writes the same chunk stream to a plain sink, no handshake) and floods it with `bytes` of `file` (looped); rejects when the server refused or dropped it. */
export async function floodPublish(port: number, key: string, file: string, bytes: number, o: { sync?: boolean; raw?: boolean; chunkSize?: number; timeoutMs?: number } = {}): Promise<FloodResult> {
  const sender = await floodSenderBundle();
  const args = [sender, String(port), key, file, String(Math.round(bytes)), `--chunk-size=${o.chunkSize ?? 4096}`, ...(o.sync === false ? ['--no-sync'] : []), ...(o.raw === true ? ['--raw'] : [])];
  const child = start(process.execPath, args);
  const timer = setTimeout(() => void child.stop('SIGKILL'), o.timeoutMs ?? 300_000);
  const code = await child.closed;
  clearTimeout(timer);
  const line = child.output().trim().split('\n').reverse().find((l) => l.startsWith('{'));
  const result = line === undefined ? { error: `exited ${code} without a result: ${child.output().slice(-500)}` } : (JSON.parse(line) as FloodResult | { error: string });
  if ('error' in result) throw new Error(`flood sender: ${result.error}`);
  if (code !== 0) throw new Error(`flood sender exited ${code}`);
  return result;
}
