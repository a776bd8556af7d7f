import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runNodeChild } from '../support/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('nothing hangs: stuck tests and helpers fail on their own bound, naming what they waited for', async () => {
  const { code, out, seconds } = await runNodeChild(
    ['--import', 'tsx', '--import', './test/support/default-timeouts.ts', '--test', '--test-force-exit', 'test/harness/fixtures/stuck.ts'],
    { cwd: ROOT, env: { TEST_TIMEOUT_MS: '1000' }, what: 'the fixture run' },
  );
  assert.equal(code, 1, out);
  assert.ok(seconds < 30, `the run ended by itself in ${seconds.toFixed(1)} s`);
  assert.match(out, /before failed on purpose/);
  assert.match(out, /not ok \d+ - a test stuck on a promise that never settles[\s\S]*?test timed out after 1000ms/);
  assert.match(out, /timed out after 500 ms waiting for the sleeping helper to exit \(pid \d+\); killed it\. Its last output:\s+zzz/);
  assert.match(out, /^ok \d+ - a test with its own longer timeout is not cut at the default/m);
  assert.match(out, /^ok \d+ - a test that passes/m);
  assert.match(out, /# pass 2\n/);
});
