import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import pkg from '../../package.json' with { type: 'json' };
import { asciiOnly, bundle } from '../../build/bundle.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { freePort } from '../support/ports.ts';
import { closedWithin } from '../support/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `node <file>` from another directory with a bare PATH; collects its output. */
function start(file: string, port: number): { child: ChildProcess; log: () => string } {
  const child = spawn(process.execPath, [file], {
    cwd: tmpdir(),
    env: { PATH: '/usr/bin:/bin', RTMP_HOST: '127.0.0.1', RTMP_PORT: String(port), RTMP_HTTP_PORT: '0', RTMP_GRPC_PORT: '0', RTMP_OUTPUT_DIR: tempOutputDir(), RTMP_CACHE_DIR: mkdtempSync(join(tmpdir(), 'proxy-rtmp-cache-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}

/** The `ffmpeg chosen` log line. */
function chosen(log: string): { source: string; path: string; attempts: Array<{ source: string; outcome: string; reason: string }> } {
  const line = log.split('\n').find((l) => l.includes('"msg":"ffmpeg chosen"'));
  assert.ok(line, log);
  return JSON.parse(line);
}

/** The esbuild bundle (what the single executable carries) runs on its own. */
describe('esbuild bundle', () => {
  let out = '';
  before(async () => {
    out = await bundle(join(mkdtempSync(join(tmpdir(), 'proxy-rtmp-bundle-')), 'proxy-rtmp.cjs'));
  });

  test('is pure ASCII (V8 then holds its source, kept for lazy compilation, at one byte a character)', () => {
    const bytes = readFileSync(out);
    assert.equal(bytes.findIndex((b) => b > 0x7f), -1);
    // The escapes mean what the characters meant, in strings, templates, regular expressions and comments.
    const file = join(mkdtempSync(join(tmpdir(), 'proxy-rtmp-ascii-')), 'm.cjs');
    writeFileSync(file, "// request’s — comment\nmodule.exports = ['é’—', `t—${1}`, /—+/.test('——'), String.fromCharCode(0xe9), '😀'.length, '😀'];\n");
    asciiOnly(file);
    assert.equal(readFileSync(file).findIndex((b) => b > 0x7f), -1);
    assert.deepEqual(createRequire(import.meta.url)(file), ['é’—', 't—1', true, 'é', 2, '😀']);
  });

  test('builds, starts, takes a publish and stops on SIGTERM; outside the checkout ffmpeg-static is not found', async () => {
    const version = spawnSync(process.execPath, [out, '--version'], { encoding: 'utf8' });
    assert.equal(version.stdout, `${pkg.version}\n`);
    const port = await freePort();
    // Run from another directory with a bare PATH: the bundle needs nothing from the checkout.
    const { child, log } = start(out, port);
    try {
      await waitUntil(() => log().includes('RTMP listening'), `bundle to listen: ${log()}`);
      // ffmpeg is looked for by the encoder probe, once the listeners are up.
      await waitUntil(() => log().includes('"msg":"ffmpeg chosen"'), `ffmpeg chosen: ${log()}`);
      const ffmpeg = chosen(log());
      assert.equal(ffmpeg.source, 'path');
      assert.match(ffmpeg.path, /^\/(usr\/)?bin\/ffmpeg$/);
      assert.deepEqual(
        ffmpeg.attempts.filter((a) => a.source === 'carried' || a.source === 'ffmpeg-static').map((a) => [a.source, a.outcome, a.reason]),
        [
          ['carried', 'missing', 'not running as the single executable'],
          ['ffmpeg-static', 'missing', 'package not installed'],
        ],
      );
      const { client, streamId } = await TestRtmpClient.connected(port);
      assert.equal((await client.publish(streamId, 'bundled')).code, 'NetStream.Publish.Start');
      const exited = closedWithin(child, 60_000, 'the bundled server', log);
      child.kill('SIGTERM');
      assert.equal((await exited)[0], 0, log());
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('inside the checkout, the bundle finds ffmpeg-static next to itself (import.meta.url is the bundle file)', async () => {
    const dir = join(ROOT, '.tmp');
    mkdirSync(dir, { recursive: true });
    const inside = join(mkdtempSync(join(dir, 'bundle-')), 'proxy-rtmp.cjs');
    copyFileSync(out, inside);
    const { child, log } = start(inside, await freePort());
    try {
      await waitUntil(() => log().includes('RTMP listening'), `bundle to listen: ${log()}`);
      // ffmpeg is looked for by the encoder probe, once the listeners are up.
      await waitUntil(() => log().includes('"msg":"ffmpeg chosen"'), `ffmpeg chosen: ${log()}`);
      const ffmpeg = chosen(log());
      assert.equal(ffmpeg.source, 'ffmpeg-static');
      assert.equal(ffmpeg.path, join(ROOT, 'node_modules/ffmpeg-static/bin/linux/x64/ffmpeg'));
      const exited = closedWithin(child, 60_000, 'the bundled server', log);
      child.kill('SIGTERM');
      assert.equal((await exited)[0], 0, log());
    } finally {
      child.kill('SIGKILL');
      rmSync(dirname(inside), { recursive: true, force: true });
    }
  });
});
