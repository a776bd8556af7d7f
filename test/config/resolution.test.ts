import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResolution } from '../../src/config/index.ts';

test('parseResolution returns the height in lines', () => {
  const cases: [string, number][] = [
    ['720p', 720],
    ['1080p', 1080],
    ['1440p', 1440],
    ['2160p', 2160],
    ['4320p', 4320],
    ['1080', 1080],
    ['480P', 480],
    ['4k', 2160],
    ['4K', 2160],
    ['8k', 4320],
    ['8K', 4320],
    ['1p', 1],
  ];
  for (const [input, lines] of cases) assert.equal(parseResolution(input), lines, input);
});

test('parseResolution refuses anything else with a ConfigError', () => {
  for (const input of ['', 'p', '0', '0p', '0720p', '-720p', '+720p', '720i', ' 720p', '720p ', '1080x720', '2k', '16k', '4321p', '10000p', '1e3', 'k', '4kp']) {
    assert.throws(() => parseResolution(input), { name: 'ConfigError', code: 'ERR_CONFIG_INVALID' }, JSON.stringify(input));
  }
});
