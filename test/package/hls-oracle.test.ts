/**
 * The HLS writers checked by an independent parser: hls-parser (MIT, a
 * devDependency used only here) in strict mode, which rejects what RFC 8216
 * and RFC 8216bis forbid (version too low, missing mandatory attributes, LL
 * rules), and gives back durations, URIs and sequence numbers to compare.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as HLS from 'hls-parser';
import type { MasterPlaylist, MediaPlaylist } from 'hls-parser/types.js';
import { masterPlaylist, mediaPlaylist } from '../../src/package/hls.ts';
import { rendition, run, snapshot, windowArbitrary, windowOf } from './snapshot-builder.ts';

HLS.setOptions({ strictMode: true });

const media = (text: string) => HLS.parse(text) as MediaPlaylist;

describe('hls-parser (strict) reads our playlists', () => {
  it('the master playlist: variants, bandwidths, codecs, the audio group', () => {
    const v720 = rendition({ name: '720p', segments: run(1), bandwidth: 3_000_000, width: 1280, height: 720, frameRate: 30 });
    const v360 = rendition({ name: '360p', segments: run(1), bandwidth: 800_000, width: 640, height: 360, frameRate: 30 });
    const a = rendition({ name: 'audio', segments: run(1), channels: 2 });
    const parsed = HLS.parse(masterPlaylist(snapshot({ video: [v360, v720], audio: a }), { query: 'token=x' })) as MasterPlaylist;
    assert.equal(parsed.isMasterPlaylist, true);
    assert.deepEqual(parsed.variants.map((v) => [v.uri, v.bandwidth, v.codecs, v.resolution?.width, v.frameRate]), [
      ['720p.m3u8?token=x', 3_128_000, 'avc1.64001f,mp4a.40.2', 1280, 30],
      ['360p.m3u8?token=x', 928_000, 'avc1.64001f,mp4a.40.2', 640, 30],
    ]);
    assert.deepEqual(parsed.variants[0]!.audio.map((r) => [r.groupId, r.uri, r.isDefault]), [['audio', 'audio.m3u8?token=x', true]]);
  });

  it('audio-only and video-only masters', () => {
    const a = rendition({ name: 'audio', segments: run(1) });
    const audioOnly = HLS.parse(masterPlaylist(snapshot({ audio: a }))) as MasterPlaylist;
    assert.deepEqual(audioOnly.variants.map((v) => [v.uri, v.codecs]), [['audio.m3u8', 'mp4a.40.2']]);
    const v = rendition({ name: '720p', segments: run(1) });
    const videoOnly = HLS.parse(masterPlaylist(snapshot({ video: [v] }))) as MasterPlaylist;
    assert.deepEqual(videoOnly.variants.map((x) => [x.uri, x.audio.length]), [['720p.m3u8', 0]]);
  });

  it('random windows round-trip: sequence numbers, durations, URIs, maps, program date-times', () => {
    fc.assert(fc.property(windowArbitrary, fc.constantFrom(undefined, 'exp=1&sig=abc'), (w, query) => {
      const { r, s } = windowOf(w);
      const parsed = media(mediaPlaylist(s, r, query === undefined ? {} : { query }));
      const q = query === undefined ? '' : `?${query}`;
      const complete = r.segments.filter((x) => x.complete);
      assert.equal(parsed.endlist, w.ended);
      assert.equal(parsed.segments.length, complete.length);
      for (const [i, x] of complete.entries()) {
        const p = parsed.segments[i]!;
        assert.equal(p.uri, x.uri + q);
        assert.equal(p.mediaSequenceNumber, x.msn);
        assert.equal(p.discontinuitySequence, x.discontinuity);
        assert.ok(Math.abs(p.duration - x.duration / r.timescale) <= 5e-6);
        assert.equal(p.map?.uri, x.initUri + q);
        if (p.programDateTime !== undefined) assert.equal(p.programDateTime.getTime(), x.programDateTime);
      }
    }));
  });

  it('an LL playlist: parts, hint, reports, server control', () => {
    const v = rendition({ name: '720p', segments: run(4, { openParts: 2 }) });
    const a = rendition({ name: 'audio', segments: run(4, { openParts: 3 }) });
    const parsed = media(mediaPlaylist(snapshot({ video: [v], audio: a }), v, { lowLatency: true, nextPartUri: 'i0/720p/5.2.m4s' }));
    assert.equal(parsed.partTargetDuration, 0.5);
    assert.deepEqual(parsed.lowLatencyCompatibility, { canBlockReload: true, canSkipUntil: 12, holdBack: undefined, partHoldBack: 1.5 });
    assert.deepEqual(parsed.renditionReports.map((x) => [x.uri, x.lastMSN, x.lastPart]), [['audio.m3u8', 5, 2]]);
    const parts = parsed.segments.flatMap((x) => x.parts.map((p) => [p.uri, p.duration ?? null, p.independent ?? false, p.hint]));
    assert.deepEqual(parts.at(-1), ['i0/720p/5.2.m4s', null, false, true]);
    assert.deepEqual(parts.at(-2), ['i0/720p/5.1.m4s', 0.5, false, false]);
    assert.deepEqual(parts.at(-3), ['i0/720p/5.0.m4s', 0.5, true, false]);
    assert.equal(parts.length, 4 + 4 + 2 + 1);
  });

  it('an LL delta update: EXT-X-SKIP at version 9', () => {
    const v = rendition({ name: '720p', segments: run(12, { openParts: 1 }) });
    const parsed = media(mediaPlaylist(snapshot({ video: [v] }), v, { lowLatency: true, skip: true, nextPartUri: 'i0/720p/13.1.m4s' }));
    assert.equal(parsed.version, 9);
    assert.equal(parsed.skip, 6);
    assert.equal(parsed.mediaSequenceBase, 1);
  });
});
