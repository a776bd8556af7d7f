import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ENV_VARS, loadConfig, parseResolution } from '../../src/config/index.ts';
import { CONFIG_KEYS, DEFAULT_CONFIG, FIELDS, getValue, HIDDEN_VALUE, type Config, type ConfigKey } from '../../src/config/schema.ts';

/** A valid non-default value for every variable and what it loads as. */
const OVERRIDES: Record<string, [raw: string, expected: unknown]> = {
  RTMP_HOST: ['127.0.0.1', '127.0.0.1'],
  RTMP_PORT: ['0', 0],
  RTMP_APP: ['ingest_2-a', 'ingest_2-a'],
  RTMP_CHUNK_SIZE: ['60000', 60000],
  RTMP_MAX_INCOMING_CHUNK_SIZE: ['128', 128],
  RTMP_MAX_MESSAGE_SIZE: ['1024', 1024],
  RTMP_MAX_CHUNK_STREAMS: ['65599', 65599],
  RTMP_MAX_BUFFERED_BYTES: ['65536', 65536],
  RTMP_WINDOW_ACK_SIZE: ['5000000', 5_000_000],
  RTMP_HANDSHAKE_TIMEOUT_MS: ['100', 100],
  RTMP_IDLE_TIMEOUT_MS: ['0120000', 120_000],
  RTMP_MAX_STREAMS: ['1', 1],
  RTMP_MAX_BITRATE: ['2.5', 2.5],
  RTMP_MAX_RESOLUTION: ['720p', '720p'],
  RTMP_BITRATE_WINDOW_MS: ['1000', 1000],
  RTMP_MAX_CONNECTIONS_PER_ADDRESS: ['8', 8],
  RTMP_CONNECTIONS_PER_MINUTE: ['120', 120],
  RTMP_ENCODER: ['nvenc', 'nvenc'],
  RTMP_VAAPI_DEVICE: ['/dev/dri/renderD129', '/dev/dri/renderD129'],
  RTMP_CACHE_DIR: ['/var/cache/proxy-rtmp', '/var/cache/proxy-rtmp'],
  RTMP_ENCODER_PROBE_TIMEOUT_MS: ['5000', 5000],
  RTMP_AUTH: ['true', true],
  RTMP_AUTH_KEYS: [
    '["cam1","sha256:' + 'ab'.repeat(32) + '"]',
    ['cam1', 'sha256:' + 'ab'.repeat(32)],
  ],
  RTMP_AUTH_SECRETS: ['["0123456789abcdef","fedcba9876543210"]', ['0123456789abcdef', 'fedcba9876543210']],
  RTMP_AUTH_MAX_TTL_SECONDS: ['3600', 3600],
  RTMP_AUTH_WEBHOOK_URL: ['https://auth.example.com/publish', 'https://auth.example.com/publish'],
  RTMP_AUTH_WEBHOOK_SECRET: ['webhook-secret-0123', 'webhook-secret-0123'],
  RTMP_AUTH_WEBHOOK_TIMEOUT_MS: ['500', 500],
  RTMP_AUTH_WEBHOOK_FAIL_OPEN: ['true', true],
  RTMP_AUTH_PLAYBACK: ['true', true],
  RTMP_GRPC_HOST: ['::1', '::1'],
  RTMP_TRANSCODE: ['false', false],
  RTMP_FFMPEG_PATH: ['/usr/bin/ffmpeg', '/usr/bin/ffmpeg'],
  RTMP_TRANSCODE_PRESET: ['ultrafast', 'ultrafast'],
  RTMP_SEGMENT_SECONDS: ['4', 4],
  RTMP_PART_SECONDS: ['0.333', 0.333],
  RTMP_LOW_LATENCY: ['false', false],
  RTMP_WINDOW_SEGMENTS: ['10', 10],
  RTMP_AUDIO_KBPS: ['96', 96],
  RTMP_LINGER_SECONDS: ['0', 0],
  RTMP_RECONNECT_GRACE_SECONDS: ['0', 0],
  RTMP_MEMORY_PER_STREAM_MB: ['256', 256],
  RTMP_MAX_BACKLOG_BYTES: ['1048576', 1048576],
  RTMP_PASSTHROUGH: ['false', false],
  RTMP_LADDER: [
    '[{"name":"540p","width":960,"height":540,"bitrateKbps":2000,"fps":29.97,"codec":"h265"},{"name":"low","width":426,"height":240,"bitrateKbps":400,"fps":15,"codec":"h264"}]',
    [
      { name: '540p', width: 960, height: 540, bitrateKbps: 2000, fps: 29.97, codec: 'h265' },
      { name: 'low', width: 426, height: 240, bitrateKbps: 400, fps: 15, codec: 'h264' },
    ],
  ],
  RTMP_GRPC_PORT: ['65535', 65535],
  RTMP_DRAIN_GRACE_MS: ['0', 0],
  RTMP_HTTP_HOST: ['localhost', 'localhost'],
  RTMP_HTTP_PORT: ['8081', 8081],
  RTMP_LOG_LEVEL: ['silent', 'silent'],
  RTMP_LOG_FORMAT: ['json', 'json'],
};

/** Other variables an override needs to pass the cross-checks. */
const NEEDS: Record<string, Record<string, string>> = {
  RTMP_AUTH: { RTMP_AUTH_KEYS: '["cam1"]' },
  RTMP_AUTH_PLAYBACK: { RTMP_AUTH_SECRETS: '["0123456789abcdef"]' },
};

/** Values every variable must refuse. */
const BAD: Record<string, string[]> = {
  RTMP_HOST: ['', 'a b', 'x'.repeat(254)],
  RTMP_PORT: ['70000', '-1', '12abc', '1e3', '', ' 1935', '1935 ', '0x10', '1935.0', '+1935'],
  RTMP_APP: ['', 'live/x', 'a'.repeat(65), 'live app'],
  RTMP_CHUNK_SIZE: ['127', '65537', '4096.5'],
  RTMP_MAX_INCOMING_CHUNK_SIZE: ['127', '16777216'],
  RTMP_MAX_MESSAGE_SIZE: ['1023', '16777216'],
  RTMP_MAX_CHUNK_STREAMS: ['3', '65600'],
  RTMP_MAX_BUFFERED_BYTES: ['65535', '99999999999999999999'],
  RTMP_WINDOW_ACK_SIZE: ['0', '4294967296'],
  RTMP_HANDSHAKE_TIMEOUT_MS: ['99', '2147483648'],
  RTMP_IDLE_TIMEOUT_MS: ['99', 'abc'],
  RTMP_MAX_STREAMS: ['0', '1.5'],
  RTMP_MAX_BITRATE: ['0', '-1', '1e3', 'Infinity', 'NaN', '', '10Mbps', '0x10', '.'],
  RTMP_MAX_RESOLUTION: ['', '1080i', 'hd', '0p', '4321p', '2k', '1080 p', '-720'],
  RTMP_BITRATE_WINDOW_MS: ['999', '5s'],
  RTMP_MAX_CONNECTIONS_PER_ADDRESS: ['-1', 'many'],
  RTMP_CONNECTIONS_PER_MINUTE: ['-1', '1.5'],
  RTMP_ENCODER: ['gpu', 'NVENC', 'h264_nvenc', ''],
  RTMP_VAAPI_DEVICE: ['renderD128', 'dev/dri/renderD128', '/dev/dri/render D128'],
  RTMP_CACHE_DIR: ['relative/cache', 'x'.repeat(5000)],
  RTMP_ENCODER_PROBE_TIMEOUT_MS: ['999', '120001'],
  RTMP_AUTH: ['on', '1'],
  // Whole-list problems; a bad entry is named by its index (below).
  RTMP_AUTH_KEYS: ['cam1', '{"key":"cam1"}', ''],
  RTMP_AUTH_SECRETS: ['["0123456789abcdef","0123456789abcdeg","0123456789abcdeh"]', 'secret0123456789', '{}'],
  RTMP_AUTH_MAX_TTL_SECONDS: ['0', '1h'],
  RTMP_AUTH_WEBHOOK_URL: ['ftp://x', 'auth.example.com', 'http://'],
  RTMP_AUTH_WEBHOOK_SECRET: ['short'],
  RTMP_AUTH_WEBHOOK_TIMEOUT_MS: ['99', '60001'],
  RTMP_AUTH_WEBHOOK_FAIL_OPEN: ['maybe'],
  RTMP_AUTH_PLAYBACK: ['yes'],
  RTMP_GRPC_HOST: [''],
  RTMP_TRANSCODE: ['yes', 'TRUE', '1'],
  RTMP_FFMPEG_PATH: ['x'.repeat(5000)],
  RTMP_TRANSCODE_PRESET: ['Very Fast', ''],
  RTMP_SEGMENT_SECONDS: ['0', '31', '2.5'],
  RTMP_PART_SECONDS: ['0', '0.05', '2.5', 'half'],
  RTMP_LOW_LATENCY: ['maybe', ''],
  RTMP_WINDOW_SEGMENTS: ['1'],
  RTMP_AUDIO_KBPS: ['8', '1000'],
  RTMP_LINGER_SECONDS: ['-1', '86401'],
  RTMP_RECONNECT_GRACE_SECONDS: ['-1', '301', '1.5'],
  RTMP_MEMORY_PER_STREAM_MB: ['7', '4097', '1.5', ''],
  RTMP_MAX_BACKLOG_BYTES: ['100'],
  RTMP_PASSTHROUGH: ['off', 'TRUE', ''],
  // Whole-list problems; problems inside a rung name the rung (test/config/ladder.test.ts).
  RTMP_LADDER: [
    '',
    'not json',
    '[{"name":"720p",}]',
    "[{'name':'720p'}]",
    '[]',
    '{}',
    'null',
    '"720p"',
    JSON.stringify(Array.from({ length: 9 }, (_, i) => ({ name: `r${i}`, width: 640, height: 100 + 2 * i, bitrateKbps: 800, fps: 30, codec: 'h264' }))),
  ],
  RTMP_GRPC_PORT: ['65536'],
  RTMP_DRAIN_GRACE_MS: ['-1', '600001'],
  RTMP_HTTP_HOST: [' '],
  RTMP_HTTP_PORT: ['http'],
  RTMP_LOG_LEVEL: ['INFO', 'verbose', ''],
  RTMP_LOG_FORMAT: ['JSON', 'text'],
};

test('ENV_VARS has one RTMP_* variable per key, in key order', () => {
  assert.deepEqual(
    ENV_VARS.map((v) => v.key),
    CONFIG_KEYS,
  );
  assert.equal(new Set(ENV_VARS.map((v) => v.name)).size, ENV_VARS.length);
  for (const v of ENV_VARS) {
    assert.match(v.name, /^RTMP_[A-Z0-9_]+$/);
    assert.ok(v.description.length > 0 && !v.description.includes('\n'), v.name);
    assert.ok(v.expected.length > 0, v.name);
  }
  assert.ok(Object.isFrozen(ENV_VARS) && Object.isFrozen(ENV_VARS[0]));
});

test('the override and bad-value tables cover every variable', () => {
  const names = ENV_VARS.map((v) => v.name).sort();
  assert.deepEqual(Object.keys(OVERRIDES).sort(), names);
  assert.deepEqual(Object.keys(BAD).sort(), names);
});

for (const { name, key } of ENV_VARS) {
  test(`${name} overrides ${key}`, () => {
    const [raw, expected] = OVERRIDES[name]!;
    // auth.enabled and auth.playback alone are refused (cross-checked); give them what they need.
    const needs = NEEDS[name] ?? {};
    const config = loadConfig({ env: { [name]: raw, ...needs } });
    assert.notDeepEqual(getValue(DEFAULT_CONFIG, key as ConfigKey), expected, 'the table should use a non-default value');
    assert.deepEqual(getValue(config, key as ConfigKey), expected);
    // Every other key keeps its default.
    for (const other of CONFIG_KEYS) {
      const given = Object.keys(needs).map((n) => ENV_VARS.find((v) => v.name === n)!.key);
      if (other !== key && !given.includes(other)) assert.deepEqual(getValue(config, other), getValue(DEFAULT_CONFIG, other), other);
    }
  });

  test(`${name}: bad values name ${key}, the variable, the value and what is expected`, () => {
    const expected = ENV_VARS.find((v) => v.name === name)!.expected;
    const secret = FIELDS[key as ConfigKey].secret === true;
    for (const raw of BAD[name]!) {
      assert.throws(
        () => loadConfig({ env: { [name]: raw } }),
        (err: Error & { code?: string }) => {
          assert.equal(err.name, 'ConfigError');
          assert.equal(err.code, 'ERR_CONFIG_INVALID');
          assert.equal(err.message, `${key} (from ${name}): expected ${expected}, got ${secret ? HIDDEN_VALUE : `'${raw}'`}`);
          return true;
        },
        `${name}=${JSON.stringify(raw)}`,
      );
    }
  });
}

test('keys and secrets are never shown in error messages, even inside a list', () => {
  const cases: [string, string, RegExp][] = [
    ['RTMP_AUTH_KEYS', '["good","bad key"]', /^auth\.keys\[1\] \(from RTMP_AUTH_KEYS\): expected a stream key .*, got \(hidden\)$/],
    ['RTMP_AUTH_KEYS', '["sha256:xyz"]', /^auth\.keys\[0\] .*got \(hidden\)$/],
    ['RTMP_AUTH_SECRETS', '["short-secret"]', /^auth\.secrets\[0\] \(from RTMP_AUTH_SECRETS\): expected a secret of 16 to 1024 characters, got \(hidden\)$/],
    ['RTMP_AUTH_WEBHOOK_SECRET', 'short-secret', /^auth\.webhookSecret .*got \(hidden\)$/],
  ];
  for (const [name, raw, pattern] of cases) {
    assert.throws(() => loadConfig({ env: { [name]: raw } }), (err: Error) => {
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('short-secret') && !err.message.includes('bad key') && !err.message.includes('xyz'), err.message);
      return true;
    });
  }
});

test('auth cross-checks name the key: enabled with nothing to check against, playback without a secret', () => {
  assert.throws(() => loadConfig({ env: { RTMP_AUTH: 'true' } }), /auth\.enabled.*at least one of auth\.keys, auth\.secrets or auth\.webhookUrl/);
  assert.throws(() => loadConfig({ env: { RTMP_AUTH_PLAYBACK: 'true' } }), /auth\.playback.*auth\.secrets/);
  assert.equal(loadConfig({ env: { RTMP_AUTH: 'true', RTMP_AUTH_WEBHOOK_URL: 'http://127.0.0.1:9/auth' } }).auth.enabled, true);
});

test('the spec example message for a port out of range', () => {
  assert.throws(() => loadConfig({ env: { RTMP_PORT: '70000' } }), {
    message: "rtmp.port (from RTMP_PORT): expected an integer between 0 and 65535, got '70000'",
  });
});

test('RTMP_MAX_RESOLUTION normalises aliases and bare line counts', () => {
  const cases: [string, string][] = [
    ['720p', '720p'],
    ['1080', '1080p'],
    ['1440P', '1440p'],
    ['4k', '2160p'],
    ['4K', '2160p'],
    ['8k', '4320p'],
  ];
  for (const [raw, expected] of cases) {
    const config = loadConfig({ env: { RTMP_MAX_RESOLUTION: raw } });
    assert.equal(config.limits.maxResolution, expected, raw);
    assert.equal(parseResolution(config.limits.maxResolution), parseResolution(raw));
  }
  assert.equal(parseResolution(loadConfig({ env: { RTMP_MAX_RESOLUTION: '720p' } }).limits.maxResolution), 720);
});

test('several bad variables are all reported in one error', () => {
  assert.throws(
    () => loadConfig({ env: { RTMP_PORT: 'x', RTMP_LOG_LEVEL: 'loud' } }),
    (err: Error) => {
      assert.match(err.message, /^2 configuration problems:/);
      assert.match(err.message, /rtmp\.port \(from RTMP_PORT\)/);
      assert.match(err.message, /log\.level \(from RTMP_LOG_LEVEL\)/);
      return true;
    },
  );
});

test('unknown RTMP_* variables and unset (undefined) variables are ignored', () => {
  const config = loadConfig({ env: { RTMP_PROT: '1', RTMP_SOMETHING_ELSE: 'x', RTMP_PORT: undefined, PATH: '/bin' } });
  assert.deepEqual(config, DEFAULT_CONFIG);
});

test('env defaults to process.env', () => {
  const saved = process.env.RTMP_HTTP_PORT;
  process.env.RTMP_HTTP_PORT = '9999';
  try {
    assert.equal(loadConfig().http.port, 9999);
  } finally {
    if (saved === undefined) delete process.env.RTMP_HTTP_PORT;
    else process.env.RTMP_HTTP_PORT = saved;
  }
});

test('environment variables override the YAML file', () => {
  const config: Config = loadConfig({
    yamlText: 'rtmp:\n  port: 1936\n  app: fromyaml\n',
    env: { RTMP_PORT: '1937' },
  });
  assert.equal(config.rtmp.port, 1937);
  assert.equal(config.rtmp.app, 'fromyaml');
});

test('every ENV_VARS name appears in appliance/config.yaml', () => {
  const text = readFileSync(new URL('../../appliance/config.yaml', import.meta.url), 'utf8');
  for (const { name } of ENV_VARS) assert.match(text, new RegExp(`\\b${name}\\b`), name);
});
