import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mediaTypeOf } from '../../src/http/media-type.ts';

describe('media types', () => {
  const cases: [string, string | undefined][] = [
    ['master.m3u8', 'application/vnd.apple.mpegurl'],
    ['manifest.mpd', 'application/dash+xml'],
    ['720p-1a2b-17.m4s', 'video/iso.segment'],
    ['720p-1a2b-init0.mp4', 'video/mp4'],
    ['chunk-1.m4v', 'video/mp4'],
    ['chunk-1.m4a', 'audio/mp4'],
    ['chunk-1.ts', 'video/mp2t'],
    ['subs-1.vtt', 'text/vtt'],
    ['notes.txt', undefined],
    ['MASTER.M3U8', undefined],
    ['noext', undefined],
  ];
  for (const [file, type] of cases) {
    test(file, () => assert.equal(mediaTypeOf(file), type));
  }
});
