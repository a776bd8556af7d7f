import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { buildExecutable } from '../../build/sea.ts';
import { parseCarriedMeta, sha256Hex } from '../../src/ffmpeg/carried.ts';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { waitUntil } from '../support/wait.ts';
import { closedWithin } from '../support/process.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXECUTABLE = join(ROOT, 'dist/proxy-rtmp');
const META = join(ROOT, 'dist/ffmpeg.json');

/** Newest modification time under `path` (files and folders, recursively). */
function newest(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(info.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/**
 * dist/proxy-rtmp, built unless it is newer than every source and build file,
 * the lockfile and this Node binary, and carries ffmpeg-static's binary
 * (a build takes 5–15 s, mostly gzip and postject).
 */
async function executable(): Promise<{ built: boolean; ms: number }> {
  const inputs = [...['src', 'build', 'package.json', 'package-lock.json', 'sea-config.json'].map((p) => join(ROOT, p)), process.execPath];
  const fresh =
    existsSync(EXECUTABLE) &&
    existsSync(META) &&
    statSync(EXECUTABLE).mtimeMs > Math.max(...inputs.map(newest)) &&
    parseCarriedMeta(readFileSync(META, 'utf8')).origin?.startsWith('ffmpeg-static@') === true;
  if (fresh) return { built: false, ms: 0 };
  const result = await buildExecutable({ out: EXECUTABLE, carry: undefined });
  return { built: true, ms: result.ms };
}

/** One run of the executable with its JSON log parsed as it arrives. */
class Run {
  readonly child: ChildProcess;
  readonly spawnedAt = performance.now();
  readonly lines: Array<Record<string, unknown>> = [];
  text = '';
  readonly closed: Promise<[number | null, NodeJS.Signals | null]>;

  constructor(env: NodeJS.ProcessEnv, args: string[] = []) {
    this.child = spawn(EXECUTABLE, args, { cwd: tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      this.text += d.toString();
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        try {
          this.lines.push({ ...(JSON.parse(line) as Record<string, unknown>), seenAt: performance.now() });
        } catch {
          // not a log line
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.text += d.toString()));
    // 'close', not 'exit': stdout has been read to the end by then.
    this.closed = closedWithin(this.child, 120_000, 'the executable', () => this.text);
  }

  line(msg: string): Record<string, unknown> | undefined {
    return this.lines.find((l) => l['msg'] === msg);
  }

  async waitFor(msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    await waitUntil(() => this.line(msg) !== undefined || this.child.exitCode !== null, `"${msg}" from the executable: ${this.text}`, timeoutMs);
    const found = this.line(msg);
    assert.ok(found, `the executable exited before "${msg}": ${this.text}`);
    return found;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const [code] = await this.closed;
    return code;
  }
}

/** Resolves once a TCP connection to the port is accepted. */
async function accepts(port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.destroy();
}

/** GETs `url` every 100 ms until `done(body)` holds for a 200 answer; returns that body. */
async function fetchUntil(url: string, done: (body: string) => boolean, what: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const res = await fetch(url).catch(() => undefined);
    if (res !== undefined) {
      const body = await res.text();
      if (res.status === 200 && done(body)) return body;
      last = `${res.status} ${body.slice(0, 500)}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(100);
  }
}

describe('the single executable dist/proxy-rtmp, with no ffmpeg on the PATH', () => {
  const runs: Run[] = [];
  const emptyBin = mkdtempSync(join(tmpdir(), 'proxy-rtmp-nobin-'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-cache-'));
  /** The environment of a run: nothing from ours, a PATH without ffmpeg (or anything else). */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: emptyBin,
    HOME: mkdtempSync(join(tmpdir(), 'proxy-rtmp-home-')),
    RTMP_HOST: '127.0.0.1',
    RTMP_PORT: '0',
    RTMP_HTTP_HOST: '127.0.0.1',
    RTMP_HTTP_PORT: '0',
    RTMP_GRPC_HOST: '127.0.0.1',
    RTMP_GRPC_PORT: '0',
    RTMP_DRAIN_GRACE_MS: '0',
    RTMP_OUTPUT_DIR: mkdtempSync(join(tmpdir(), 'proxy-rtmp-out-')),
    RTMP_CACHE_DIR: cacheDir,
    RTMP_TRANSCODE_PRESET: 'ultrafast',
    RTMP_LINGER_SECONDS: '60',
    RTMP_LOG_FORMAT: 'json',
    ...extra,
  });
  let carriedSha = '';

  before(async () => {
    const { built, ms } = await executable();
    const size = statSync(EXECUTABLE).size;
    carriedSha = parseCarriedMeta(readFileSync(META, 'utf8')).sha256;
    process.stderr.write(`# executable: ${(size / 1e6).toFixed(1)} MB${built ? `, built in ${(ms / 1000).toFixed(1)} s` : ' (up to date)'}\n`);
  });
  after(async () => {
    await Promise.all(runs.map((r) => r.stop()));
  });

  test('--version and --check-config answer without starting anything', async () => {
    const version = await execFileAsync(EXECUTABLE, ['--version'], { env: env() });
    assert.equal(version.stdout, `${pkg.version}\n`);
    const check = await execFileAsync(EXECUTABLE, ['--check-config'], { env: env() });
    assert.equal(check.stdout, 'configuration OK (built-in defaults)\n');
    await assert.rejects(execFileAsync(EXECUTABLE, ['--check-config'], { env: env({ RTMP_PORT: 'x' }) }), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 78);
      assert.match(err.stderr ?? '', /rtmp\.port/);
      return true;
    });
  });

  test('a configured ffmpeg that does not run stops the start with exit 78, naming the key', async () => {
    const run = new Run(env({ RTMP_FFMPEG_PATH: '/nonexistent/ffmpeg' }));
    runs.push(run);
    const [code] = await run.closed;
    assert.equal(code, 78, run.text);
    assert.match(run.text, /ffmpeg\.path \(RTMP_FFMPEG_PATH\) names \/nonexistent\/ffmpeg/);
    // The probe runs once the listeners are up (health says starting meanwhile); its failure stops the server.
    assert.equal(run.line('start-up failed')?.['level'], 60, run.text);
    assert.equal(run.line('encoder chosen'), undefined);
  });

  test('first start unpacks the carried ffmpeg into the cache; publish → HLS plays back; a second start reuses it', async () => {
    const first = new Run(env());
    runs.push(first);
    const listening = await first.waitFor('RTMP listening');
    const port = listening['port'] as number;
    await accepts(port);
    const coldMs = (listening['seenAt'] as number) - first.spawnedAt;

    // The encoder probe (ffmpeg unpacked and found, then the test encode) runs once the listeners are up.
    const chosen = await first.waitFor('ffmpeg chosen');
    assert.equal(chosen['source'], 'carried', first.text);
    assert.match(chosen['version'] as string, /^ffmpeg version 4\.2\.1-static/);
    const binary = join(cacheDir, `ffmpeg-${carriedSha.slice(0, 16)}`, 'ffmpeg');
    assert.equal(chosen['path'], binary);
    const attempts = chosen['attempts'] as Array<{ source: string; outcome: string; reason: string }>;
    const carried = attempts.find((a) => a.source === 'carried')!;
    assert.match(carried.reason, /^extracted in \d+ ms; /);
    assert.deepEqual(
      attempts.filter((a) => a.source !== 'carried').map((a) => [a.source, a.outcome, a.reason]),
      [
        ['config', 'missing', 'ffmpeg.path (RTMP_FFMPEG_PATH) not set'],
        ['env', 'missing', 'FFMPEG_PATH not set'],
        ['ffmpeg-static', 'missing', 'not available inside the single executable'],
        ['path', 'missing', 'no ffmpeg on PATH'],
      ],
    );
    assert.equal(statSync(binary).mode & 0o777, 0o755);
    assert.equal(sha256Hex(readFileSync(binary)), carriedSha);
    const extractedMtime = statSync(binary).mtimeMs;

    // Publish with the system ffmpeg (this process's PATH); the server's ffmpeg is the carried one.
    const httpPort = (first.line('HTTP listening')!['port'] as number);
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/sea`, { seconds: 6 });
    const base = `http://127.0.0.1:${httpPort}/streams/sea`;
    const master = await fetchUntil(`${base}/master.m3u8`, (b) => b.includes('AVERAGE-BANDWIDTH='), 'the completed master.m3u8', 20_000);
    assert.match(master, /RESOLUTION=320x240/);
    assert.match(master, /FRAME-RATE=30\.000/);
    assert.equal(await pub.exited, 0, pub.stderr());
    const media = master.split('\n').find((l) => l.endsWith('.m3u8') && !l.startsWith('#'))!;
    await fetchUntil(`${base}/${media}`, (b) => b.includes('#EXT-X-ENDLIST'), 'the rung playlist to end', 15_000);
    const { stdout } = await execFileAsync(
      'ffprobe',
      ['-v', 'error', '-of', 'json', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=codec_name,width,height,nb_read_packets', `${base}/${media}`],
      { timeout: 30_000 },
    );
    const stream = (JSON.parse(stdout) as { streams: Array<Record<string, unknown>> }).streams[0]!;
    assert.deepEqual([stream['codec_name'], stream['width'], stream['height']], ['h264', 320, 240]);
    assert.ok(Number(stream['nb_read_packets']) >= 150, `6 s at 30 fps played back: ${stream['nb_read_packets']} frames`);
    assert.equal(await first.stop(), 0, first.text);

    const second = new Run(env());
    runs.push(second);
    const again = await second.waitFor('RTMP listening');
    await accepts(again['port'] as number);
    const warmMs = (again['seenAt'] as number) - second.spawnedAt;
    const reused = ((await second.waitFor('ffmpeg chosen'))['attempts'] as Array<{ source: string; reason: string }>).find((a) => a.source === 'carried')!;
    assert.match(reused.reason, /^reused, verified in \d+ ms; /);
    assert.equal(statSync(binary).mtimeMs, extractedMtime, 'not unpacked again');
    assert.deepEqual(readdirSync(join(binary, '..')), ['ffmpeg']);
    assert.equal(await second.stop(), 0, second.text);
    process.stderr.write(
      `# cold start to RTMP accepting: ${Math.round(coldMs)} ms (${carried.reason.split(';')[0]}); warm start: ${Math.round(warmMs)} ms (${reused.reason.split(';')[0]})\n`,
    );
  });
});
