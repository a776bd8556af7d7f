import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cacheControlFor, mediaTypeOf, SEGMENT_MAX_AGE_S } from '../../src/http/media-type.ts';

describe('media types and cache policy', () => {
  const cases: [string, string | undefined, string][] = [
    ['master.m3u8', 'application/vnd.apple.mpegurl', 'no-cache'],
    ['media_0.m3u8', 'application/vnd.apple.mpegurl', 'no-cache'],
    ['manifest.mpd', 'application/dash+xml', 'no-cache'],
    ['init-0.m4s', 'video/iso.segment', 'no-cache'],
    ['init.mp4', 'video/mp4', 'no-cache'],
    ['chunk-0-00001.m4s', 'video/iso.segment', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['chunk-1.mp4', 'video/mp4', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['chunk-1.m4v', 'video/mp4', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['chunk-1.m4a', 'audio/mp4', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['chunk-1.ts', 'video/mp2t', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['subs-1.vtt', 'text/vtt', `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['notes.txt', undefined, `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['MASTER.M3U8', undefined, `public, max-age=${SEGMENT_MAX_AGE_S}`],
    ['noext', undefined, `public, max-age=${SEGMENT_MAX_AGE_S}`],
  ];
  for (const [file, type, cache] of cases) {
    test(file, () => {
      assert.equal(mediaTypeOf(file), type);
      assert.equal(cacheControlFor(file), cache);
    });
  }
});
