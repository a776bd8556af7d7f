import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_CONFIG, formatConfigYaml, loadConfig, type Config } from '../../src/config/index.ts';
import { CONFIG_KEYS, ENCODER_MODES, LOG_FORMATS, LOG_LEVELS } from '../../src/config/schema.ts';

const APPLIANCE = 'appliance/config.yaml';
const applianceUrl = new URL('../../appliance/config.yaml', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeYaml(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Asserts `fn` throws a ConfigError whose message matches every pattern. */
function throwsConfig(fn: () => unknown, ...patterns: (RegExp | string)[]): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should include ${JSON.stringify(p)}`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

test('the shipped appliance/config.yaml loads to exactly the built-in defaults', () => {
  assert.deepEqual(loadConfig({ path: APPLIANCE, env: {} }), loadConfig({ env: {} }));
  assert.deepEqual(loadConfig({ path: applianceUrl.pathname, env: {} }), DEFAULT_CONFIG);
});

test('appliance/config.yaml is what formatConfigYaml(DEFAULT_CONFIG) writes', () => {
  // Regenerate with:
  // node --import tsx -e "import {formatConfigYaml,DEFAULT_CONFIG} from './src/config/index.ts';process.stdout.write(formatConfigYaml(DEFAULT_CONFIG))" > appliance/config.yaml
  assert.equal(readFileSync(applianceUrl, 'utf8'), formatConfigYaml(DEFAULT_CONFIG));
});

test('appliance/config.yaml sets every key, each with a comment naming its environment variable', () => {
  const lines = readFileSync(applianceUrl, 'utf8').split('\n');
  for (const key of CONFIG_KEYS) {
    const leaf = key.split('.')[1]!;
    const i = lines.findIndex((line, n) => line.startsWith(`  ${leaf}:`) && lines.slice(0, n).reverse().find((l) => /^\S/.test(l) && !l.startsWith('#'))?.startsWith(key.split('.')[0]!));
    assert.ok(i >= 2, key);
    assert.match(lines[i - 2]!, /^  # \S.*\.$/, key);
    assert.match(lines[i - 1]!, /^  # Env RTMP_[A-Z_]+; default .+\.$/, key);
  }
});

test('no file and no env gives the defaults; DEFAULT_CONFIG is frozen', () => {
  assert.deepEqual(loadConfig({ env: {} }), DEFAULT_CONFIG);
  assert.ok(Object.isFrozen(DEFAULT_CONFIG) && Object.isFrozen(DEFAULT_CONFIG.rtmp));
  assert.equal(DEFAULT_CONFIG.rtmp.port, 1935);
  assert.equal(DEFAULT_CONFIG.limits.maxResolution, '1080p');
});

test('the result is deeply frozen and not shared with DEFAULT_CONFIG', () => {
  const config = loadConfig({ env: {} });
  assert.notEqual(config, DEFAULT_CONFIG);
  assert.ok(Object.isFrozen(config));
  for (const section of Object.values(config)) assert.ok(Object.isFrozen(section));
  assert.throws(() => {
    (config.rtmp as { port: number }).port = 1;
  }, TypeError);
  assert.equal(config.rtmp.port, 1935);
});

test('an empty file, a comments-only file and empty sections all give the defaults', () => {
  for (const text of ['', '\n', '# nothing here\n', '---\n', '~\n', 'rtmp:\nlog: # later\n']) {
    assert.deepEqual(loadConfig({ yamlText: text, env: {} }), DEFAULT_CONFIG, JSON.stringify(text));
  }
  assert.deepEqual(loadConfig({ path: writeYaml('empty.yaml', ''), env: {} }), DEFAULT_CONFIG);
});

test('a partial YAML file merges with the defaults', () => {
  const path = writeYaml('partial.yaml', 'rtmp:\n  port: 19350\nlimits:\n  maxBitrateMbps: 2.5\n  maxResolution: 4k\nlog:\n  level: debug\n');
  const config = loadConfig({ path, env: {} });
  assert.deepEqual(config, {
    ...DEFAULT_CONFIG,
    rtmp: { ...DEFAULT_CONFIG.rtmp, port: 19350 },
    limits: { ...DEFAULT_CONFIG.limits, maxBitrateMbps: 2.5, maxResolution: '2160p' },
    log: { ...DEFAULT_CONFIG.log, level: 'debug' },
  });
});

test('a YAML number for maxResolution is a line count', () => {
  assert.equal(loadConfig({ yamlText: 'limits:\n  maxResolution: 720\n', env: {} }).limits.maxResolution, '720p');
});

test('anchors and aliases resolve', () => {
  const config = loadConfig({ yamlText: 'rtmp:\n  host: &h "10.0.0.1"\ngrpc:\n  host: *h\n', env: {} });
  assert.equal(config.grpc.host, '10.0.0.1');
});

test('an unknown key names the full dotted key, the file and the line, and suggests a close one', () => {
  const path = writeYaml('typo.yaml', 'rtmp:\n  host: 0.0.0.0\n  prot: 1935\n');
  throwsConfig(
    () => loadConfig({ path, env: {} }),
    `unknown key 'rtmp.prot' in ${path} (line 3, column 3); did you mean 'rtmp.port'?`,
  );
});

test('typo suggestions', () => {
  const cases: [string, string | undefined][] = [
    ['rtmp:\n  chunk_size: 1\n', 'rtmp.chunkSize'],
    ['rtmp:\n  max_incoming_chunk_size: 1\n', 'rtmp.maxIncomingChunkSize'],
    ['rtmp:\n  Port: 1\n', 'rtmp.port'],
    ['rtmp:\n  RTMP_PORT: 1\n', 'rtmp.port'],
    ['RTMP_MAX_BITRATE: 1\n', 'limits.maxBitrateMbps'],
    ['rtpm:\n  port: 1\n', 'rtmp'],
    ['limit:\n  maxStreams: 1\n', 'limits'],
    ['limits:\n  maxStream: 1\n', 'limits.maxStreams'],
    ['rtmp:\n  windowAckSz: 1\n', 'rtmp.windowAckSize'],
    ['rtmp:\n  windowSize: 1\n', undefined],
    ['rtmp:\n  totallyUnrelated: 1\n', undefined],
    ['server:\n  port: 1\n', undefined],
  ];
  for (const [yamlText, hint] of cases) {
    assert.throws(
      () => loadConfig({ yamlText, env: {} }),
      (err: Error) => {
        assert.match(err.message, /^unknown key '/);
        if (hint === undefined) assert.doesNotMatch(err.message, /did you mean/);
        else assert.ok(err.message.endsWith(`did you mean '${hint}'?`), err.message);
        return true;
      },
      yamlText,
    );
  }
});

test('every unknown key is reported, not just the first', () => {
  throwsConfig(
    () => loadConfig({ yamlText: 'rtmp:\n  prot: 1\nhttp:\n  hots: x\nextra: 1\n', env: {} }),
    /^3 configuration problems:/,
    "'rtmp.prot'",
    "'http.hots'",
    "'extra'",
  );
});

test('__proto__ and other prototype keys are unknown keys and pollute nothing', () => {
  for (const yamlText of [
    '__proto__:\n  polluted: true\n',
    'rtmp:\n  __proto__:\n    polluted: true\n',
    'constructor:\n  prototype:\n    polluted: true\n',
    'rtmp:\n  toString: x\n',
    '<<: {rtmp: {port: 1}}\n',
  ]) {
    throwsConfig(() => loadConfig({ yamlText, env: {} }), /unknown key '/);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
});

test('bad YAML values name the key, the file and line, the value and what is expected', () => {
  const path = writeYaml('bad.yaml', 'rtmp:\n  port: 70000\n');
  throwsConfig(
    () => loadConfig({ path, env: {} }),
    `rtmp.port (from ${path}, line 2): expected an integer between 0 and 65535, got 70000`,
  );
  const cases: [string, string][] = [
    ['rtmp:\n  port: "1935"\n', "rtmp.port (from YAML text, line 2): expected an integer between 0 and 65535, got '1935'"],
    ['rtmp:\n  port:\n', 'rtmp.port (from YAML text, line 2): expected an integer between 0 and 65535, got an empty value'],
    ['rtmp:\n  port: [1]\n', 'got a list'],
    ['rtmp:\n  port: {a: 1}\n', 'got a mapping'],
    ['rtmp:\n  port: 1935.5\n', 'rtmp.port'],
    ['rtmp:\n  app: "a/b"\n', "rtmp.app (from YAML text, line 2): expected 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-', got 'a/b'"],
    ['limits:\n  maxBitrateMbps: 0\n', 'limits.maxBitrateMbps (from YAML text, line 2): expected a number greater than 0, got 0'],
    ['limits:\n  maxBitrateMbps: .inf\n', 'got Infinity'],
    ['limits:\n  maxResolution: 1080i\n', "limits.maxResolution (from YAML text, line 2)"],
    ['log:\n  level: INFO\n', "log.level (from YAML text, line 2): expected one of trace, debug, info, warn, error, fatal, silent, got 'INFO'"],
    ['log:\n  format: yes\n', "log.format (from YAML text, line 2): expected one of auto, json, pretty, got 'yes'"],
    ['rtmp: 1935\n', 'rtmp (from YAML text, line 1): expected a mapping of keys, got 1935'],
    ['- rtmp\n', 'YAML text (line 1, column 1): expected a mapping of sections'],
  ];
  for (const [yamlText, expected] of cases) throwsConfig(() => loadConfig({ yamlText, env: {} }), expected);
});

test('a bad YAML value is reported even when an environment variable overrides it', () => {
  throwsConfig(() => loadConfig({ yamlText: 'rtmp:\n  port: 70000\n', env: { RTMP_PORT: '1936' } }), 'rtmp.port (from YAML text, line 2)');
});

test('YAML that does not parse gives the file, line and column', () => {
  const path = writeYaml('syntax.yaml', 'rtmp:\n  port: 1935\n  host: "unterminated\n');
  throwsConfig(() => loadConfig({ path, env: {} }), new RegExp(`^invalid YAML in ${path} at line \\d+, column \\d+: .*quote`));
  throwsConfig(() => loadConfig({ yamlText: 'rtmp:\n\tport: 1\n', env: {} }), /^invalid YAML in YAML text at line 2, column \d+: /);
  throwsConfig(() => loadConfig({ yamlText: 'rtmp: port: 1\n', env: {} }), /at line 1, column \d+/);
  throwsConfig(() => loadConfig({ yamlText: 'rtmp:\n  port: 1\n  port: 2\n', env: {} }), /at line 3, column 3: .*unique/i);
  throwsConfig(() => loadConfig({ yamlText: 'a: 1\n---\nb: 2\n', env: {} }), /^invalid YAML in YAML text/);
});

test('a missing file is an error naming the path', () => {
  const path = join(dir, 'does-not-exist.yaml');
  throwsConfig(() => loadConfig({ path, env: {} }), `config file not found: ${path}`);
  throwsConfig(() => loadConfig({ path: 'nope/config.yaml', env: {} }), `config file not found: ${resolve('nope/config.yaml')}`);
  throwsConfig(() => loadConfig({ path: dir, env: {} }), `cannot read config file ${dir}`);
});

test('yamlText wins over path, which then only labels messages', () => {
  const config = loadConfig({ path: join(dir, 'not-read.yaml'), yamlText: 'rtmp:\n  port: 2000\n', env: {} });
  assert.equal(config.rtmp.port, 2000);
  throwsConfig(
    () => loadConfig({ path: 'label.yaml', yamlText: 'rtmp:\n  port: x\n', env: {} }),
    `rtmp.port (from ${resolve('label.yaml')}, line 2)`,
  );
});

test('formatConfigYaml(cfg) loads back to cfg', () => {
  assert.deepEqual(loadConfig({ yamlText: formatConfigYaml(DEFAULT_CONFIG), env: {} }), DEFAULT_CONFIG);
  const custom = loadConfig({
    env: {
      RTMP_HOST: '::',
      RTMP_APP: 'a-b_c',
      RTMP_MAX_BITRATE: '0.75',
      RTMP_MAX_RESOLUTION: '8k',
      RTMP_LOG_FORMAT: 'pretty',
      RTMP_HTTP_PORT: '0',
    },
  });
  assert.deepEqual(loadConfig({ yamlText: formatConfigYaml(custom), env: {} }), custom);
});

test('formatConfigYaml round-trips arbitrary valid configurations', () => {
  // Plain objects, as loadConfig returns (deepEqual compares prototypes).
  const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { noNullPrototype: true });
  const host = fc.oneof(
    fc.constantFrom('0.0.0.0', '::', 'localhost', 'example.com', '#x', 'a"b', "it's", 'null', 'true', '1935', '~'),
    fc.stringMatching(/^\S{1,40}$/),
  );
  const port = fc.integer({ min: 0, max: 65535 });
  const arbitraryConfig = record({
    rtmp: record({
      host,
      port,
      app: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      chunkSize: fc.integer({ min: 128, max: 65536 }),
      maxIncomingChunkSize: fc.integer({ min: 128, max: 0xffffff }),
      maxMessageSize: fc.integer({ min: 1024, max: 0xffffff }),
      maxChunkStreams: fc.integer({ min: 4, max: 65599 }),
      maxBufferedBytes: fc.integer({ min: 65536, max: Number.MAX_SAFE_INTEGER }),
      windowAckSize: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      handshakeTimeoutMs: fc.integer({ min: 100, max: 2 ** 31 - 1 }),
      idleTimeoutMs: fc.integer({ min: 100, max: 2 ** 31 - 1 }),
    }),
    limits: record({
      maxStreams: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      maxBitrateMbps: fc.double({ min: Number.MIN_VALUE, max: 1e6, noNaN: true }),
      maxResolution: fc.integer({ min: 1, max: 4320 }).map((n) => `${n}p`),
      bitrateWindowMs: fc.integer({ min: 1000, max: 2 ** 31 - 1 }),
      maxConnectionsPerAddress: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      connectionsPerMinutePerAddress: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    }),
    transcode: record({
      enabled: fc.boolean(),
      ladder: fc.uniqueArray(
        record({
          name: fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/),
          width: fc.integer({ min: 8, max: 3840 }).map((n) => 2 * n),
          height: fc.integer({ min: 8, max: 2160 }).map((n) => 2 * n),
          bitrateKbps: fc.integer({ min: 100, max: 100_000 }),
          fps: fc.double({ min: Number.MIN_VALUE, max: 120, noNaN: true }),
          codec: fc.constantFrom('h264' as const, 'h265' as const),
        }),
        { minLength: 1, maxLength: 8, comparator: (a, b) => a.name === b.name || a.height === b.height },
      ),
      preset: fc.stringMatching(/^[a-z0-9]{1,16}$/),
      segmentSeconds: fc.integer({ min: 1, max: 30 }),
      partSeconds: fc.double({ min: 0.1, max: 2, noNaN: true }),
      lowLatency: fc.boolean(),
      windowSegments: fc.integer({ min: 2, max: 100 }),
      audioKbps: fc.integer({ min: 16, max: 512 }),
      lingerSeconds: fc.integer({ min: 0, max: 86400 }),
      reconnectGraceSeconds: fc.integer({ min: 0, max: 300 }),
      memoryPerStreamMb: fc.integer({ min: 8, max: 4096 }),
      maxBacklogBytes: fc.integer({ min: 65536, max: Number.MAX_SAFE_INTEGER }),
      passthrough: fc.boolean(),
    }),
    ffmpeg: record({
      path: fc.oneof(fc.constant(''), fc.string({ maxLength: 60 })),
      encoder: fc.constantFrom(...ENCODER_MODES),
      vaapiDevice: fc.oneof(fc.constant(''), fc.stringMatching(/^\/[A-Za-z0-9_./-]{0,40}$/)),
      cacheDir: fc.oneof(fc.constant(''), fc.stringMatching(/^\/[A-Za-z0-9_./ -]{0,60}$/)),
      probeTimeoutMs: fc.integer({ min: 1000, max: 120_000 }),
    }),
    auth: record({
      enabled: fc.constant(false),
      keys: fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/), fc.stringMatching(/^sha256:[0-9a-f]{64}$/)), { maxLength: 4 }),
      secrets: fc.array(fc.string({ minLength: 16, maxLength: 40 }), { maxLength: 2 }),
      signedUrlMaxTtlSeconds: fc.integer({ min: 1, max: 10 * 365 * 86400 }),
      webhookUrl: fc.oneof(fc.constant(''), fc.stringMatching(/^https?:\/\/[a-z0-9.:/-]{1,40}$/)),
      webhookSecret: fc.oneof(fc.constant(''), fc.string({ minLength: 16, maxLength: 40 })),
      webhookTimeoutMs: fc.integer({ min: 100, max: 60_000 }),
      webhookFailOpen: fc.boolean(),
      playback: fc.constant(false),
    }),
    grpc: record({ host, port, drainGraceMs: fc.integer({ min: 0, max: 600_000 }) }),
    http: record({ host, port }),
    log: record({ level: fc.constantFrom(...LOG_LEVELS), format: fc.constantFrom(...LOG_FORMATS) }),
  });
  fc.assert(
    fc.property(arbitraryConfig, (config) => {
      const text = formatConfigYaml(config as Config);
      assert.deepEqual(loadConfig({ yamlText: text, env: {} }), config);
    }),
    { numRuns: 300 },
  );
});
