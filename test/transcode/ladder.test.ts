import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hasCode } from '../../src/errors.ts';
import { DEFAULT_LADDER, planLadder, type Rung, type SourceInfo } from '../../src/transcode/ladder.ts';

/** Shorthand for an H.264 rung. */
function r(name: string, width: number, height: number, bitrateKbps: number, fps = 30): Rung {
  return { name, width, height, bitrateKbps, fps, codec: 'h264' };
}

const FULL = [r('1080p', 1920, 1080, 5000), r('720p', 1280, 720, 3000), r('480p', 854, 480, 1500), r('360p', 640, 360, 800)];

describe('planLadder', () => {
  const cases: Array<{ name: string; source: SourceInfo; maxHeight?: number; want: Rung[] }> = [
    { name: '1080p source keeps the whole ladder', source: { width: 1920, height: 1080 }, want: FULL },
    { name: '720p source: no upscale', source: { width: 1280, height: 720 }, want: FULL.slice(1) },
    { name: '640x360 source: only the lowest rung', source: { width: 640, height: 360 }, want: [r('360p', 640, 360, 800)] },
    { name: '320x240 source: one rung at its own size', source: { width: 320, height: 240 }, want: [r('240p', 320, 240, 800)] },
    { name: 'odd source below the ladder is rounded down to even', source: { width: 321, height: 241 }, want: [r('240p', 320, 240, 800)] },
    {
      name: '4:3 640x480 keeps its aspect ratio',
      source: { width: 640, height: 480 },
      want: [r('480p', 640, 480, 1500), r('360p', 480, 360, 800)],
    },
    {
      name: 'portrait 720x1280: rung height is the short side',
      source: { width: 720, height: 1280 },
      want: [r('720p', 720, 1280, 3000), r('480p', 480, 854, 1500), r('360p', 360, 640, 800)],
    },
    { name: '1440p source capped by maxHeight 1080', source: { width: 2560, height: 1440 }, maxHeight: 1080, want: FULL },
    { name: '1440p source capped by maxHeight 720', source: { width: 2560, height: 1440 }, maxHeight: 720, want: FULL.slice(1) },
    {
      name: 'odd 853x479 keeps 480p, clamped to the source',
      source: { width: 853, height: 479 },
      want: [r('480p', 852, 478, 1500), r('360p', 640, 360, 800)],
    },
    {
      name: '21:9 2560x1080 keeps its aspect ratio',
      source: { width: 2560, height: 1080 },
      want: [r('1080p', 2560, 1080, 5000), r('720p', 1706, 720, 3000), r('480p', 1138, 480, 1500), r('360p', 854, 360, 800)],
    },
    {
      name: 'maxHeight below every rung: one rung at maxHeight',
      source: { width: 1920, height: 1080 },
      maxHeight: 240,
      want: [r('240p', 426, 240, 800)],
    },
    {
      name: 'bitrate capped at a low source bitrate',
      source: { width: 1920, height: 1080, bitrateKbps: 2000.7 },
      want: [r('1080p', 1920, 1080, 2000), r('720p', 1280, 720, 2000), r('480p', 854, 480, 1500), r('360p', 640, 360, 800)],
    },
    {
      name: 'a cap far below the budgets stops at the floor (a fifth of each rung\'s own)',
      source: { width: 1920, height: 1080, bitrateKbps: 700, capFloor: 0.2 },
      want: [r('1080p', 1920, 1080, 1000), r('720p', 1280, 720, 700), r('480p', 854, 480, 700), r('360p', 640, 360, 700)],
    },
    {
      name: '25 fps source keeps 25 fps',
      source: { width: 1280, height: 720, fps: 25 },
      want: [r('720p', 1280, 720, 3000, 25), r('480p', 854, 480, 1500, 25), r('360p', 640, 360, 800, 25)],
    },
    {
      name: '29.97 fps source keeps 29.97',
      source: { width: 640, height: 360, fps: 29.97 },
      want: [r('360p', 640, 360, 800, 29.97)],
    },
    {
      name: '60 fps source does not raise the rung fps',
      source: { width: 640, height: 360, fps: 60 },
      want: [r('360p', 640, 360, 800, 30)],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(planLadder(DEFAULT_LADDER, c.source, c.maxHeight ?? 1080), c.want);
    });
  }

  test('duplicate heights are removed, higher bitrate first, output sorted high → low', () => {
    const ladder = [r('low', 640, 360, 800), r('a', 1280, 720, 2500), r('b', 1280, 720, 3000)];
    assert.deepEqual(planLadder(ladder, { width: 1920, height: 1080 }, 1080), [r('b', 1280, 720, 3000), r('low', 640, 360, 800)]);
  });

  test('h265 rungs keep their codec', () => {
    const [only] = planLadder([{ ...r('360p', 640, 360, 600), codec: 'h265' }], { width: 320, height: 180 }, 1080);
    assert.equal(only?.codec, 'h265');
    assert.equal(only?.name, '180p');
  });

  test('rejects an empty ladder, a bad source and a bad maxHeight', () => {
    const bad = (e: unknown) => hasCode(e, 'ERR_TRANSCODE_LADDER_INVALID');
    assert.throws(() => planLadder([], { width: 1920, height: 1080 }, 1080), bad);
    assert.throws(() => planLadder(DEFAULT_LADDER, { width: 0, height: 1080 }, 1080), bad);
    assert.throws(() => planLadder(DEFAULT_LADDER, { width: 1920, height: Number.NaN }, 1080), bad);
    assert.throws(() => planLadder(DEFAULT_LADDER, { width: 1920, height: 1080 }, 0), bad);
  });

  test('invariants hold for arbitrary sources', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 4096 }),
        fc.integer({ min: 16, max: 4096 }),
        fc.option(fc.double({ min: 1, max: 120, noNaN: true }), { nil: undefined }),
        fc.option(fc.integer({ min: 50, max: 20000 }), { nil: undefined }),
        fc.integer({ min: 144, max: 2160 }),
        (width, height, fps, bitrateKbps, maxHeight) => {
          const out = planLadder(DEFAULT_LADDER, { width, height, fps, bitrateKbps }, maxHeight);
          assert.ok(out.length >= 1);
          const short = (x: Rung) => Math.min(x.width, x.height);
          for (const [i, x] of out.entries()) {
            assert.equal(x.width % 2, 0);
            assert.equal(x.height % 2, 0);
            assert.ok(x.width <= Math.max(2, width) && x.height <= Math.max(2, height), `no upscale ${JSON.stringify(x)}`);
            assert.ok(short(x) <= maxHeight, 'within maxHeight');
            assert.ok(height > width ? x.height >= x.width : x.width >= x.height, 'orientation kept');
            assert.equal(x.fps, Math.min(fps ?? 30, 30));
            if (bitrateKbps !== undefined) assert.ok(x.bitrateKbps <= bitrateKbps);
            if (i > 0) assert.ok(short(x) < short(out[i - 1]!), 'strictly descending, no duplicates');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
