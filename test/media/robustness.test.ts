import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProxyRtmpError } from '../../src/errors.ts';
import { parseAudioSpecificConfig } from '../../src/media/aac.ts';
import { parseAv1CodecConfig } from '../../src/media/av1.ts';
import { parseAvcDecoderConfig } from '../../src/media/avc.ts';
import { parseAudioTag, parseVideoTag } from '../../src/media/flv-tag.ts';
import { parseHevcDecoderConfig } from '../../src/media/hevc.ts';

/**
 * Every parser, fed truncated, random and mutated input, either returns a
 * sane result or throws one of our ERR_MEDIA_* errors, never anything else.
 */

const FUZZ_RUNS = 20_000;
const STRUCTURED_RUNS = 5_000;

const fixturesDir = new URL('./fixtures/', import.meta.url);
const files = readdirSync(fixturesDir);
const load = (pattern: RegExp) => files.filter((f) => pattern.test(f)).sort().map((f) => readFileSync(new URL(f, fixturesDir)));

const videoTags = [
  ...load(/^avc-.*\.tag\.bin$/),
  Buffer.concat([Buffer.from([0x90]), Buffer.from('hvc1'), ...load(/^hevc-main-854x480\.hvcC\.bin$/)]),
  Buffer.concat([Buffer.from([0x90]), Buffer.from('av01'), ...load(/^av1-main-320x240\.av1C\.bin$/)]),
  Buffer.from('a1687663310000050000000165', 'hex'), // hvc1 CodedFrames, cts 5
  Buffer.from('97020f424001687663310000050000000165', 'hex'), // ModEx + hvc1 CodedFrames
  Buffer.from('9603617630310012000a', 'hex'), // multitrack OneTrack av01 CodedFramesX
];
const audioTags = [
  ...load(/^aac-.*\.tag\.bin$/),
  Buffer.from('904f7075734f707573486561640102', 'hex'), // Opus SequenceStart
  Buffer.from('9501' + '4f707573' + '00' + 'fc', 'hex'), // multitrack OneTrack Opus
];
const avcRecords = load(/^avc-(?!.*-key).*\.tag\.bin$/).map((b) => b.subarray(5));
const hevcRecords = load(/\.hvcC\.bin$/);
const av1Records = load(/\.av1C\.bin$/);
const ascs = load(/^aac-lc-\d+-\w+\.tag\.bin$/).map((b) => b.subarray(2));

interface Target {
  name: string;
  parse: (b: Buffer) => unknown;
  corpus: Buffer[];
}
const targets: Target[] = [
  { name: 'parseVideoTag', parse: parseVideoTag, corpus: videoTags },
  { name: 'parseAudioTag', parse: parseAudioTag, corpus: audioTags },
  { name: 'parseAvcDecoderConfig', parse: parseAvcDecoderConfig, corpus: avcRecords },
  { name: 'parseHevcDecoderConfig', parse: parseHevcDecoderConfig, corpus: hevcRecords },
  { name: 'parseAv1CodecConfig', parse: parseAv1CodecConfig, corpus: av1Records },
  { name: 'parseAudioSpecificConfig', parse: parseAudioSpecificConfig, corpus: ascs },
];

/** Runs `parse`; returns 'ok' or 'threw', rethrowing anything that is not an ERR_MEDIA_* error. */
function attempt(parse: (b: Buffer) => unknown, input: Buffer): 'ok' | 'threw' {
  let result: unknown;
  try {
    result = parse(input);
  } catch (err) {
    if (err instanceof ProxyRtmpError && err.code.startsWith('ERR_MEDIA_')) return 'threw';
    throw err;
  }
  assertSane(result);
  return 'ok';
}

/** A config's dimensions and rates are positive integers; a tag's payload is a Buffer. */
function assertSane(result: unknown): void {
  const r = result as Record<string, unknown>;
  for (const key of ['width', 'height', 'sampleRate', 'channels']) {
    if (key in r) assert.ok(Number.isInteger(r[key]) && (r[key] as number) > 0, `${key} = ${String(r[key])}`);
  }
  if ('payload' in r) assert.ok(Buffer.isBuffer(r.payload));
  if ('sar' in r) {
    const sar = r.sar as number[];
    assert.ok(sar.length === 2 && sar.every((n) => Number.isInteger(n) && n > 0) && sar[0] !== sar[1], `sar = ${String(sar)}`);
  }
  if ('compositionTimeMs' in r) assert.ok(Number.isInteger(r.compositionTimeMs));
}

describe('truncation at every byte offset', () => {
  it('fixtures themselves parse', () => {
    assert.equal(avcRecords.length, 8);
    assert.equal(hevcRecords.length, 6);
    assert.equal(av1Records.length, 3);
    assert.equal(ascs.length, 2);
    for (const t of targets) for (const b of t.corpus) assert.equal(attempt(t.parse, b), 'ok', t.name);
  });

  it('every prefix of every fixture returns or throws ERR_MEDIA_*', () => {
    for (const t of targets) {
      for (const b of t.corpus) for (let cut = 0; cut < b.length; cut++) attempt(t.parse, b.subarray(0, cut));
    }
  });

  it('HEVC and AV1 records cut anywhere throw', () => {
    for (const parse of [parseHevcDecoderConfig, parseAv1CodecConfig]) {
      for (const b of parse === parseHevcDecoderConfig ? hevcRecords : av1Records) {
        for (let cut = 0; cut < b.length; cut++) assert.equal(attempt(parse, b.subarray(0, cut)), 'threw', `cut at ${cut}/${b.length}`);
      }
    }
  });

  it('AVC records cut anywhere throw, except exactly before the optional High-profile extension', () => {
    for (const b of avcRecords) {
      const hasExtension = ![66, 77, 88].includes(b[1]!);
      for (let cut = 0; cut < b.length; cut++) {
        const expected = hasExtension && cut === b.length - 4 ? 'ok' : 'threw';
        assert.equal(attempt(parseAvcDecoderConfig, b.subarray(0, cut)), expected, `profile ${b[1]} cut at ${cut}/${b.length}`);
      }
    }
  });

  it('AudioSpecificConfigs cut inside the 2-byte core throw; tags cut inside their headers throw', () => {
    for (const b of ascs) for (let cut = 0; cut < 2; cut++) assert.equal(attempt(parseAudioSpecificConfig, b.subarray(0, cut)), 'threw');
    for (const b of load(/^avc-.*\.tag\.bin$/)) for (let cut = 0; cut < 5; cut++) assert.equal(attempt(parseVideoTag, b.subarray(0, cut)), 'threw');
    for (const b of load(/^aac-.*\.tag\.bin$/)) for (let cut = 0; cut < 2; cut++) assert.equal(attempt(parseAudioTag, b.subarray(0, cut)), 'threw');
  });
});

describe(`fast-check fuzz (${FUZZ_RUNS} runs per property)`, () => {
  for (const t of targets) {
    it(`${t.name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
          attempt(t.parse, Buffer.from(bytes));
        }),
        { numRuns: FUZZ_RUNS },
      );
    });

    it(`${t.name}: single-byte mutations of the fixtures`, () => {
      fc.assert(
        fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (which, pos, value) => {
          const source = t.corpus[which % t.corpus.length]!;
          const mutated = Buffer.from(source);
          mutated[pos % mutated.length] = value;
          attempt(t.parse, mutated);
        }),
        { numRuns: FUZZ_RUNS },
      );
    });
  }
});

describe(`structure-aware fuzz (${STRUCTURED_RUNS} runs per property)`, () => {
  it('random SPS bodies inside a valid AVCDecoderConfigurationRecord', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (profile, body) => {
        const sps = Buffer.concat([Buffer.from([0x67, profile]), Buffer.from(body)]);
        const head = Buffer.from([1, profile, 0, 30, 0xff, 0xe1, sps.length >> 8, sps.length & 0xff]);
        attempt(parseAvcDecoderConfig, Buffer.concat([head, sps, Buffer.from([0])]));
      }),
      { numRuns: STRUCTURED_RUNS },
    );
  });

  it('random SPS bodies inside a valid HEVCDecoderConfigurationRecord', () => {
    const header = hevcRecords[0]!.subarray(0, 22);
    // The real SPS of hevc-main-854x480 through profile_tier_level, emulation prevention bytes included.
    const realPtl = Buffer.from('0101600000030090000003000003005a', 'hex');
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ minLength: 4, maxLength: 96 }), (keepPtl, body) => {
        const sps = Buffer.concat([Buffer.from([0x42, 0x01]), keepPtl ? realPtl : Buffer.alloc(0), Buffer.from(body)]);
        const array = Buffer.from([0xa1, 0, 1, sps.length >> 8, sps.length & 0xff]);
        attempt(parseHevcDecoderConfig, Buffer.concat([header, Buffer.from([1]), array, sps]));
      }),
      { numRuns: STRUCTURED_RUNS },
    );
  });

  it('random sequence header payloads inside a valid av1C', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (body, sized) => {
        const obu = sized ? Buffer.from([0x0a, body.length]) : Buffer.from([0x08]);
        attempt(parseAv1CodecConfig, Buffer.concat([Buffer.from('81000c00', 'hex'), obu, Buffer.from(body)]));
      }),
      { numRuns: STRUCTURED_RUNS },
    );
  });

  it('random bytes after Enhanced RTMP video and audio headers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7f }),
        fc.constantFrom('hvc1', 'avc1', 'av01', 'vp09', 'Opus', 'mp4a'),
        fc.uint8Array({ maxLength: 48 }),
        (low, fourCc, body) => {
          attempt(parseVideoTag, Buffer.concat([Buffer.from([0x80 | low]), Buffer.from(fourCc), Buffer.from(body)]));
          attempt(parseAudioTag, Buffer.concat([Buffer.from([0x90 | (low & 0x0f)]), Buffer.from(fourCc), Buffer.from(body)]));
        },
      ),
      { numRuns: STRUCTURED_RUNS },
    );
  });
});
