import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeFfmpeg } from '../../src/transcode/ffmpeg-probe.ts';

test('probeFfmpeg: the installed ffmpeg is usable; a missing or wrong binary is not', async () => {
  const real = await probeFfmpeg('ffmpeg');
  assert.equal(real.ok, true, real.error);
  assert.match(real.version!, /^ffmpeg version /);
  const missing = await probeFfmpeg('/nonexistent/ffmpeg');
  assert.equal(missing.ok, false);
  assert.match(missing.error!, /ENOENT/);
  const wrong = await probeFfmpeg('/bin/echo');
  assert.equal(wrong.ok, false);
});
