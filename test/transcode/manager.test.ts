import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/log.ts';
import { PackagedOutputs } from '../../src/package/outputs.ts';
import type { StreamEntry } from '../../src/streams/registry.ts';
import { TranscodeManager } from '../../src/transcode/manager.ts';
import { waitUntil } from '../support/wait.ts';

const log = createLogger({ level: 'silent', format: 'json' });
const settings = {
  ffmpegPath: 'ffmpeg', encoder: 'x264' as const, preset: 'ultrafast', segmentSeconds: 2, partSeconds: 0.5,
  audioKbps: 128, maxBacklogBytes: 1 << 20, maxHeight: 1080,
};
const entry = (key: string) => ({ key }) as StreamEntry;

describe('TranscodeManager: a key\'s output across publishes', () => {
  test('a publisher back within the grace continues the same output; after the grace it ends, lingers, then is freed', async () => {
    const outputs = new PackagedOutputs();
    const manager = new TranscodeManager(outputs, settings, { reconnectGraceMs: 150, lingerMs: 150, windowSegments: 6, maxBytesPerStream: 1 << 20 }, log);
    const first = manager.open(entry('cam'));
    const packager = outputs.get('cam')!;
    assert.ok(packager, 'served from the first publish on');
    first.end('unpublished');
    await sleep(50);
    assert.equal(outputs.get('cam'), packager, 'kept during the grace');
    assert.equal(packager.ended, false);
    const second = manager.open(entry('cam'));
    assert.equal(outputs.get('cam'), packager, 'the same output continues');
    second.end('unpublished');
    await waitUntil(() => packager.ended, 'the output to end after the grace', 2000);
    assert.equal(outputs.get('cam'), packager, 'lingering, ended');
    await waitUntil(() => outputs.get('cam') === undefined, 'the output to be freed after the linger', 2000);
    await manager.close();
  });

  test('a publish after the output ended starts a new one', async () => {
    const outputs = new PackagedOutputs();
    const manager = new TranscodeManager(outputs, settings, { reconnectGraceMs: 0, lingerMs: 5000, windowSegments: 6, maxBytesPerStream: 1 << 20 }, log);
    manager.open(entry('cam')).end('unpublished');
    const old = outputs.get('cam')!;
    await waitUntil(() => old.ended, 'the first output to end', 2000);
    manager.open(entry('cam'));
    const fresh = outputs.get('cam')!;
    assert.notEqual(fresh, old);
    assert.equal(fresh.ended, false);
    await manager.close();
    assert.equal(fresh.ended, true, 'close() ends every output');
  });
});
