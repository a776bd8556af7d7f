import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pkg from '../../package.json' with { type: 'json' };
import { loadConfig } from '../../src/config/index.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { tempOutputDir } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';
import { freePort } from '../support/ports.ts';
import { closedWithin } from '../support/process.ts';

const MAIN = ['--import', 'tsx', 'src/main.ts'];

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...MAIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the proxy-rtmp process', () => {
  test('--version and --help', () => {
    assert.deepEqual(cli(['--version']), { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const help = cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--check-config/);
    const bad = cli(['--nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /nope/);
  });

  test('--check-config accepts the shipped config and names the bad key otherwise', () => {
    const ok = cli(['--check-config', '--config', 'appliance/config.yaml']);
    assert.equal(ok.code, 0, ok.stderr);
    const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'rtmp:\n  prot: 1935\n');
    const typo = cli(['--check-config', '--config', file]);
    assert.equal(typo.code, 78);
    assert.match(typo.stderr, /rtmp\.prot/);
    assert.match(typo.stderr, /rtmp\.port/);
    const env = cli(['--check-config'], { RTMP_PORT: '70000' });
    assert.equal(env.code, 78);
    assert.match(env.stderr, /rtmp\.port.*RTMP_PORT.*70000/);
    const missing = cli(['--check-config', '--config', join(dir, 'none.yaml')]);
    assert.equal(missing.code, 78);
    assert.match(missing.stderr, /not found/);
  });

  test('--print-config prints the merged configuration as loadable YAML', () => {
    const r = cli(['--print-config'], { RTMP_MAX_STREAMS: '7' });
    assert.equal(r.code, 0, r.stderr);
    const printed = loadConfig({ yamlText: r.stdout, env: {} });
    assert.equal(printed.limits.maxStreams, 7);
    assert.deepEqual(printed.rtmp, loadConfig({ env: {} }).rtmp);
  });

  test('JSON logs off a TTY; SIGTERM ends publishers cleanly and exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, MAIN, {
      env: { ...process.env, RTMP_HOST: '127.0.0.1', RTMP_PORT: String(port), RTMP_HTTP_PORT: '0', RTMP_GRPC_PORT: '0', RTMP_OUTPUT_DIR: tempOutputDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = closedWithin(child, 60_000, 'the proxy-rtmp process', () => out);
    try {
      await waitUntil(() => out.includes('RTMP listening'), `the server to listen (${out})`, 20_000);
      const { client, streamId } = await TestRtmpClient.connected(port);
      assert.equal((await client.publish(streamId, 'sig')).code, 'NetStream.Publish.Start');
      await waitUntil(() => out.includes('publish started'), 'the publish log line');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, out);
      assert.ok(client.statuses().some((s) => s.code === 'NetStream.Unpublish.Success'), 'publisher was told');
      await client.waitClosed();
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const publish = lines.find((l) => l['msg'] === 'publish started');
      assert.equal(publish?.['key'], 'sig');
      assert.match(String(publish?.['peer']), /^127\.0\.0\.1:\d+$/);
      assert.ok(lines.some((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGTERM'));
      assert.ok(lines.every((l) => typeof l['time'] === 'string' && typeof l['level'] === 'number'));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
