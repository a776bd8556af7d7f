import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { resolveOutputRoot, TranscodeManager } from '../../src/transcode/manager.ts';

const log = createLogger({ level: 'silent', format: 'json' });
const settings = {
  ffmpegPath: 'ffmpeg', encoder: 'x264' as const, preset: 'ultrafast', segmentSeconds: 2, windowSegments: 6,
  audioKbps: 128, maxBacklogBytes: 1 << 20, maxHeight: 1080,
};

describe('TranscodeManager output directory', () => {
  test('the default root is the systemd runtime directory, else under tmpdir', () => {
    assert.equal(resolveOutputRoot('/srv/out', {}), '/srv/out');
    assert.equal(resolveOutputRoot('', { RUNTIME_DIRECTORY: '/run/proxy-rtmp:/run/other' }), '/run/proxy-rtmp/streams');
    assert.equal(resolveOutputRoot('', {}), join(tmpdir(), 'proxy-rtmp'));
  });

  test('start-up cleans stale output in a directory it made earlier', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'mgr-')), 'out');
    await new TranscodeManager(root, settings, { lingerMs: 0, quotaBytes: 0 }, log).init();
    mkdirSync(join(root, 'old-stream'));
    writeFileSync(join(root, 'old-stream', 'chunk-0-00001.m4s'), 'x');
    await new TranscodeManager(root, settings, { lingerMs: 0, quotaBytes: 0 }, log).init();
    assert.deepEqual(readdirSync(root), ['.proxy-rtmp-output']);
  });

  test('a non-empty directory it did not make is refused, not emptied', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mgr-foreign-'));
    writeFileSync(join(root, 'precious.txt'), 'keep me');
    await assert.rejects(new TranscodeManager(root, settings, { lingerMs: 0, quotaBytes: 0 }, log).init(), /not empty and was not made by proxy-rtmp/);
    assert.ok(existsSync(join(root, 'precious.txt')));
  });
});
