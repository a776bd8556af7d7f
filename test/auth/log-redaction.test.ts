import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { keyId } from '../../src/auth/keys.ts';
import { keyRedactingLogger, keyScrubber } from '../../src/auth/log-redaction.ts';
import { createLogger } from '../../src/log.ts';

test('keys in output paths and /streams/ URLs become key ids', () => {
  const scrub = keyScrubber('/run/proxy-rtmp/streams/');
  assert.equal(
    scrub("Opening '/run/proxy-rtmp/streams/cam_1/chunk-0-00001.m4s.tmp' for writing"),
    `Opening '/run/proxy-rtmp/streams/${keyId('cam_1')}/chunk-0-00001.m4s.tmp' for writing`,
  );
  assert.equal(scrub('/streams/cam_1/dash/manifest.mpd'), `/streams/${keyId('cam_1')}/dash/manifest.mpd`);
  assert.equal(scrub('/run/proxy-rtmp/streams'), '/run/proxy-rtmp/streams', 'the root alone is kept');
  assert.equal(scrub('nothing here'), 'nothing here');
});

test('the redacting logger hides keys in fields, child bindings, paths and errors, and leaves the rest', () => {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = keyRedactingLogger(createLogger({ level: 'debug', format: 'json' }, sink), '/out');
  log.info({ key: 'Cam_Secret', peer: '127.0.0.1:5' }, 'publish started');
  log.child({ key: 'Cam_Secret' }).warn({ dir: '/out/Cam_Secret', ffmpeg: '[dash] /out/Cam_Secret/x.m4s: No space' }, 'ffmpeg says');
  const err = Object.assign(new Error("ENOENT: no such file, open '/out/Cam_Secret/init-0.m4s'"), { path: '/out/Cam_Secret/init-0.m4s' });
  log.error({ err, url: '/streams/Cam_Secret/master.m3u8' }, 'failed');
  assert.ok(!text.includes('Cam_Secret'), text);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const id = keyId('Cam_Secret');
  assert.equal(lines[0]!['key'], id);
  assert.equal(lines[0]!['peer'], '127.0.0.1:5');
  assert.equal(lines[1]!['key'], id);
  assert.equal(lines[1]!['dir'], `/out/${id}`);
  assert.equal((lines[2]!['err'] as { message: string }).message, `ENOENT: no such file, open '/out/${id}/init-0.m4s'`);
  assert.equal(lines[2]!['url'], `/streams/${id}/master.m3u8`);
});
