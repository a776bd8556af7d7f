import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pkg from '../../package.json' with { type: 'json' };
import { bundle } from '../../build/bundle.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

/** The esbuild bundle (what the single executable carries) runs on its own. */
describe('esbuild bundle', () => {
  test('builds, starts, takes a publish and stops on SIGTERM', async () => {
    const out = await bundle(join(mkdtempSync(join(tmpdir(), 'proxy-rtmp-bundle-')), 'proxy-rtmp.cjs'));
    const version = spawnSync(process.execPath, [out, '--version'], { encoding: 'utf8' });
    assert.equal(version.stdout, `${pkg.version}\n`);
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise((r) => probe.close(r));
    // Run from another directory with a bare PATH: the bundle needs nothing from the checkout.
    const child = spawn(process.execPath, [out], {
      cwd: tmpdir(),
      env: { PATH: '/usr/bin:/bin', RTMP_HOST: '127.0.0.1', RTMP_PORT: String(port), RTMP_HTTP_PORT: '0', RTMP_GRPC_PORT: '0', RTMP_OUTPUT_DIR: tempOutputDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitUntil(() => log.includes('RTMP listening'), `bundle to listen: ${log}`);
      const { client, streamId } = await TestRtmpClient.connected(port);
      assert.equal((await client.publish(streamId, 'bundled')).code, 'NetStream.Publish.Start');
      const exited = once(child, 'close');
      child.kill('SIGTERM');
      assert.equal((await exited)[0], 0, log);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
