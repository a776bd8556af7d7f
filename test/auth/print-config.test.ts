import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { KeyList } from '../../src/auth/keys.ts';
import { formatConfigYaml, loadConfig } from '../../src/config/index.ts';

const execFileAsync = promisify(execFile);
const env = {
  RTMP_AUTH: 'true',
  RTMP_AUTH_KEYS: JSON.stringify(['plain_key', `sha256:${'c'.repeat(64)}`]),
  RTMP_AUTH_SECRETS: JSON.stringify(['the-current-secret-01', 'the-older-secret-02']),
  RTMP_AUTH_WEBHOOK_URL: 'https://auth.example.com/hook',
  RTMP_AUTH_WEBHOOK_SECRET: 'the-webhook-secret-03',
};

test('--print-config hides secrets: keys as their sha256: form, secrets as (hidden); --show-secrets round-trips', async () => {
  const config = loadConfig({ env });
  const redacted = formatConfigYaml(config, { redactSecrets: true });
  for (const secret of ['plain_key', 'the-current-secret-01', 'the-older-secret-02', 'the-webhook-secret-03']) {
    assert.ok(!redacted.includes(secret), `${secret} printed`);
  }
  const plainHash = `sha256:${createHash('sha256').update('plain_key').digest('hex')}`;
  assert.ok(redacted.includes(`- "${plainHash}"`));
  assert.ok(redacted.includes(`- "sha256:${'c'.repeat(64)}"`));
  assert.ok(redacted.includes('webhookSecret: "(hidden)"'));
  assert.ok(redacted.includes('webhookUrl: "https://auth.example.com/hook"'), 'non-secret values are printed');
  // The hidden secrets do not load (too short), and the error does not print them either.
  assert.throws(() => loadConfig({ yamlText: redacted, env: {} }), /auth\.secrets\[0\].*got \(hidden\)/);
  // The hashed key list allows the same keys.
  const keysOnly = loadConfig({ yamlText: redacted.replace(/secrets:\n(\s+- .*\n)+/, 'secrets: []\n').replace('webhookSecret: "(hidden)"', 'webhookSecret: ""'), env: {} });
  assert.equal(new KeyList(keysOnly.auth.keys).has('plain_key'), true);
  // Default formatting (appliance/config.yaml, --show-secrets) is unchanged and loads back exactly.
  assert.deepEqual(loadConfig({ yamlText: formatConfigYaml(config), env: {} }), config);

  const cli = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--print-config'], { env: { ...process.env, ...env } });
  assert.ok(!cli.stdout.includes('the-current-secret-01') && !cli.stdout.includes('plain_key'));
  const shown = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--print-config', '--show-secrets'], {
    env: { ...process.env, ...env },
  });
  assert.deepEqual(loadConfig({ yamlText: shown.stdout, env: {} }), config);
});
