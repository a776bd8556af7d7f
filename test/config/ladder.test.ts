import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, formatConfigYaml, loadConfig, type RungConfig } from '../../src/config/index.ts';
import { DEFAULT_LADDER, planLadder, type Rung } from '../../src/transcode/ladder.ts';

const dir = mkdtempSync(join(tmpdir(), 'proxy-rtmp-ladder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXPECTED = 'a list of 1 to 8 rungs, each a mapping of name, width, height, bitrateKbps, fps, codec, with unique names and unique heights';

/** One flow-mapping rung line of a YAML block list. */
function rungLine(name: string, height: number, extra = ''): string {
  return `    - {name: ${name}, width: 1280, height: ${height}, bitrateKbps: 3000, fps: 30, codec: h264${extra}}\n`;
}
const ladderYaml = (...rungs: string[]) => `transcode:\n  ladder:\n${rungs.join('')}`;
const rungJson = (name: string, height: number) => ({ name, width: 640, height, bitrateKbps: 800, fps: 30, codec: 'h264' });

function throwsMessage(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    for (const part of parts) assert.ok(err.message.includes(part), `${JSON.stringify(err.message)} should include ${JSON.stringify(part)}`);
    return true;
  });
}

test('the default ladder is DEFAULT_LADDER of src/transcode/ladder.ts and is usable as readonly Rung[]', () => {
  assert.deepEqual(DEFAULT_CONFIG.transcode.ladder, DEFAULT_LADDER);
  assert.equal(DEFAULT_CONFIG.transcode.memoryPerStreamMb, 64);
  const rungs: readonly Rung[] = loadConfig({ env: {} }).transcode.ladder;
  const one: Rung = rungs[0]! satisfies RungConfig;
  assert.equal(one.name, '1080p');
  assert.deepEqual(planLadder(rungs, { width: 1280, height: 720 }, 1080).map((r) => r.name), ['720p', '480p', '360p']);
  assert.ok(Object.isFrozen(DEFAULT_CONFIG.transcode.ladder) && Object.isFrozen(DEFAULT_CONFIG.transcode.ladder[0]));
});

test('a ladder from a YAML block list replaces the default one', () => {
  const path = join(dir, 'ladder.yaml');
  writeFileSync(
    path,
    'transcode:\n  memoryPerStreamMb: 2048\n  ladder:\n' +
      '    - name: 540p\n      width: 960\n      height: 540\n      bitrateKbps: 2000\n      fps: 29.97\n      codec: h265\n' +
      '    - {name: low, width: 426, height: 240, bitrateKbps: 400, fps: 15, codec: h264}\n',
  );
  const config = loadConfig({ path, env: {} });
  assert.deepEqual(config.transcode.ladder, [
    { name: '540p', width: 960, height: 540, bitrateKbps: 2000, fps: 29.97, codec: 'h265' },
    { name: 'low', width: 426, height: 240, bitrateKbps: 400, fps: 15, codec: 'h264' },
  ]);
  assert.equal(config.transcode.memoryPerStreamMb, 2048);
  assert.ok(Object.isFrozen(config.transcode.ladder) && Object.isFrozen(config.transcode.ladder[1]));
  assert.deepEqual(loadConfig({ yamlText: formatConfigYaml(config), env: {} }), config);
});

test('RTMP_LADDER (JSON) overrides the YAML ladder', () => {
  const config = loadConfig({
    yamlText: ladderYaml(rungLine('a', 720)),
    env: { RTMP_LADDER: JSON.stringify([rungJson('x', 360), rungJson('y', 240)]), RTMP_MEMORY_PER_STREAM_MB: '500' },
  });
  assert.deepEqual(config.transcode.ladder, [rungJson('x', 360), rungJson('y', 240)]);
  assert.equal(config.transcode.memoryPerStreamMb, 500);
});

test('a bad rung field names transcode.ladder[i].field, the file and line, the value and what is expected', () => {
  const path = join(dir, 'bad-height.yaml');
  writeFileSync(path, ladderYaml(rungLine('a', 1080), rungLine('b', 721)));
  throwsMessage(
    () => loadConfig({ path, env: {} }),
    `transcode.ladder[1].height (from ${path}, line 4): expected an even integer between 16 and 4320, got 721`,
  );
  throwsMessage(
    () => loadConfig({ env: { RTMP_LADDER: JSON.stringify([rungJson('a', 360), { ...rungJson('b', 240), width: 641 }]) } }),
    'transcode.ladder[1].width (from RTMP_LADDER): expected an even integer between 16 and 7680, got 641',
  );
  const cases: [string, string][] = [
    [ladderYaml(rungLine('a', 720).replace('fps: 30', 'fps: 0')), 'transcode.ladder[0].fps (from YAML text, line 3): expected a number greater than 0 and at most 120, got 0'],
    [ladderYaml(rungLine('a', 720).replace('fps: 30', 'fps: 121')), 'transcode.ladder[0].fps'],
    [ladderYaml(rungLine('a', 720).replace('codec: h264', 'codec: vp9')), "transcode.ladder[0].codec (from YAML text, line 3): expected one of h264, h265, got 'vp9'"],
    [ladderYaml(rungLine('a', 720).replace('3000', '99')), 'transcode.ladder[0].bitrateKbps (from YAML text, line 3): expected an integer between 100 and 100000, got 99'],
    [ladderYaml(rungLine('a b', 720)), "transcode.ladder[0].name (from YAML text, line 3): expected 1 to 16 characters from A-Z, a-z, 0-9, '_' and '-', got 'a b'"],
    [ladderYaml(rungLine('a', 720, ', bitrate: 1')), "transcode.ladder[0] (from YAML text, line 3): unknown key 'bitrate'"],
    [ladderYaml('    - {name: a, width: 1280, height: 720, bitrateKbps: 3000, codec: h264}\n'), 'transcode.ladder[0].fps (from YAML text, line 3): expected a number greater than 0 and at most 120, got nothing'],
    [ladderYaml('    - 720p\n'), "transcode.ladder[0] (from YAML text, line 3): expected a mapping of name, width, height, bitrateKbps, fps, codec, got '720p'"],
    ['transcode:\n  ladder: 720p\n', `transcode.ladder (from YAML text, line 2): expected ${EXPECTED}, got '720p'`],
  ];
  for (const [yamlText, message] of cases) throwsMessage(() => loadConfig({ yamlText, env: {} }), message);
});

test('duplicate heights and duplicate names are refused, naming the later rung', () => {
  throwsMessage(
    () => loadConfig({ yamlText: ladderYaml(rungLine('a', 720), rungLine('b', 720)), env: {} }),
    'transcode.ladder[1].height (from YAML text, line 4): expected a height that no other rung has (rung 0 already has it), got 720',
  );
  throwsMessage(
    () => loadConfig({ env: { RTMP_LADDER: JSON.stringify([rungJson('a', 360), rungJson('b', 240), rungJson('a', 180)]) } }),
    "transcode.ladder[2].name (from RTMP_LADDER): expected a name that no other rung has (rung 0 already has it), got 'a'",
  );
});

test('an empty ladder and one of more than 8 rungs are refused', () => {
  throwsMessage(
    () => loadConfig({ yamlText: 'transcode:\n  ladder: []\n', env: {} }),
    `transcode.ladder (from YAML text, line 2): expected ${EXPECTED}, got an empty list`,
  );
  const nine = Array.from({ length: 9 }, (_, i) => rungLine(`r${i}`, 100 + 2 * i));
  throwsMessage(() => loadConfig({ yamlText: ladderYaml(...nine), env: {} }), `transcode.ladder (from YAML text, line 3): expected ${EXPECTED}, got a list of 9 items`);
  const eight = Array.from({ length: 8 }, (_, i) => rungJson(`r${i}`, 100 + 2 * i));
  assert.equal(loadConfig({ env: { RTMP_LADDER: JSON.stringify(eight) } }).transcode.ladder.length, 8);
  throwsMessage(() => loadConfig({ env: { RTMP_LADDER: '[]' } }), `transcode.ladder (from RTMP_LADDER): expected ${EXPECTED}, got '[]'`);
});

test('RTMP_LADDER that is not JSON names the variable and the key', () => {
  for (const raw of ['[{name: "720p"}]', '720p', '', '[{"name":"a",}]']) {
    throwsMessage(() => loadConfig({ env: { RTMP_LADDER: raw } }), `transcode.ladder (from RTMP_LADDER): expected ${EXPECTED}, got '${raw}'`);
  }
});

test('memoryPerStreamMb must be an integer between 8 and 4096; partSeconds a number between 0.1 and 2', () => {
  throwsMessage(
    () => loadConfig({ yamlText: 'transcode:\n  memoryPerStreamMb: 4\n', env: {} }),
    'transcode.memoryPerStreamMb (from YAML text, line 2): expected an integer between 8 and 4096, got 4',
  );
  throwsMessage(() => loadConfig({ env: { RTMP_MEMORY_PER_STREAM_MB: '1.5' } }), "transcode.memoryPerStreamMb (from RTMP_MEMORY_PER_STREAM_MB): expected an integer between 8 and 4096, got '1.5'");
  throwsMessage(() => loadConfig({ env: { RTMP_PART_SECONDS: '0.05' } }), 'transcode.partSeconds (from RTMP_PART_SECONDS)');
  assert.equal(loadConfig({ env: { RTMP_PART_SECONDS: '0.333' } }).transcode.partSeconds, 0.333);
});
