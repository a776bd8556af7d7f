import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { AuthFailures } from '../../src/auth/failures.ts';
import { ConnectionLimiter } from '../../src/auth/rate-limit.ts';
import { createMetrics } from '../../src/metrics/prometheus.ts';
import { EMPTY_SAMPLE } from '../../src/metrics/system.ts';
import { StreamRegistry } from '../../src/streams/registry.ts';
import { closedWithin } from '../support/process.ts';

async function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  child.stdin.end(text);
  const [code] = await closedWithin(child, 30_000, 'promtool', () => output);
  return { code, output };
}

test('auth failures and refused connections are exported by kind and reason, from 0, and pass promtool', async () => {
  const failures = new AuthFailures();
  const limiter = new ConnectionLimiter({ maxPerAddress: 1, perMinute: 0 });
  const { registry } = createMetrics({
    registry: new StreamRegistry({ maxStreams: 1, bitrateWindowMs: 1000 }),
    http: { stats: { bytesOut: 0 } },
    system: { latest: () => EMPTY_SAMPLE },
    authFailures: () => failures.list(),
    connectionsRefused: () => limiter.refused,
  });
  let text = await registry.metrics();
  assert.match(text, /^proxy_rtmp_auth_failures_total\{kind="publish",reason="unknown-key"\} 0$/m);
  assert.match(text, /^proxy_rtmp_auth_failures_total\{kind="play",reason="expired"\} 0$/m);
  assert.match(text, /^proxy_rtmp_connections_refused_total\{reason="max-per-address"\} 0$/m);
  failures.count('publish', 'unknown-key');
  failures.count('publish', 'unknown-key');
  failures.count('play', 'bad-signature');
  limiter.admit('10.0.0.1');
  limiter.admit('10.0.0.1');
  text = await registry.metrics();
  assert.match(text, /^proxy_rtmp_auth_failures_total\{kind="publish",reason="unknown-key"\} 2$/m);
  assert.match(text, /^proxy_rtmp_auth_failures_total\{kind="play",reason="bad-signature"\} 1$/m);
  assert.match(text, /^proxy_rtmp_connections_refused_total\{reason="max-per-address"\} 1$/m);
  assert.match(text, /^# TYPE proxy_rtmp_auth_failures_total counter$/m);
  const { code, output } = await promtool(text);
  assert.notEqual(code, 1, output);
  const ours = output.split('\n').filter((l) => /^proxy_rtmp_(auth|connections)/.test(l));
  assert.deepEqual(ours, []);
});
