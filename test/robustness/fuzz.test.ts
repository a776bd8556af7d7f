import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { AmfValue } from '../../src/rtmp/amf0.ts';
import {
  AMF_BODIES,
  AUDIO_TAGS,
  CAPTURED_MESSAGES,
  CAPTURES,
  CHUNK_STREAMS,
  editMessages,
  fuzzAmf0,
  fuzzChunkDecoder,
  fuzzConnection,
  fuzzFlvTag,
  fuzzHandshake,
  fuzzSession,
  HANDSHAKE_BYTES,
  LIMIT_PROFILES,
  mutate,
  VIDEO_TAGS,
  type MessageEdit,
  type Mutation,
} from './targets.ts';

/**
 * Protocol-level fuzzing (issue 6): the handshake, the chunk decoder, AMF0,
 * FLV tags and the whole session, fed random bytes and mutations of what
 * ffmpeg and GStreamer really sent (fixtures/*.c2s.bin). One seeded budget is
 * shared out: FUZZ_CASES (default 100 000) cases, plus 8% for the pure server
 * connection (the other targets keep their whole share), FUZZ_SEED picks the
 * run (fixed by default, so CI is reproducible; fast-check prints the seed and
 * the shrunk input of any failure). Every crasher found is kept under
 * fixtures/crashers/ and replayed first. The invariants live in targets.ts;
 * test/media/robustness.test.ts fuzzes the media parsers on their own.
 *
 *   FUZZ_CASES=1000000 FUZZ_SEED=$RANDOM node --import tsx --test test/robustness/fuzz.test.ts
 */

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

const TOTAL = envInt('FUZZ_CASES', 100_000);
const SEED = envInt('FUZZ_SEED', 0x5eed6);

/** Each property's share of the budget: the shares of the targets before the server connection add up to 1, its own come on top. */
const SHARES = {
  handshakeRandom: 0.05,
  handshakeMutated: 0.06,
  chunkRandom: 0.12,
  chunkMutated: 0.25,
  amfRandom: 0.08,
  amfMutated: 0.1,
  flvRandom: 0.04,
  flvMutated: 0.1,
  connectionMutated: 0.04,
  connectionEdited: 0.04,
  sessionMutated: 0.1,
  sessionEdited: 0.1,
} as const;
const runs = (name: keyof typeof SHARES) => Math.max(1, Math.round(TOTAL * SHARES[name]));
let seedIndex = 0;
let casesRun = 0;
const params = (name: keyof typeof SHARES) => ({ numRuns: runs(name), seed: SEED + seedIndex++ });

// --- arbitraries -----------------------------------------------------------

/** Bytes from a seed, faster than drawing every byte from fast-check for kilobyte inputs. */
const noise = (maxLength: number) =>
  fc.record({ seed: fc.integer(), length: fc.integer({ min: 0, max: maxLength }) }).map(({ seed, length }) => {
    const out = Buffer.allocUnsafe(length);
    let x = seed | 1;
    for (let i = 0; i < length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  });

/** Byte values that sit on protocol boundaries (chunk types, csid escapes, AMF markers, extended timestamps). */
const byteValue = fc.oneof(
  fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x05, 0x08, 0x09, 0x0a, 0x0c, 0x11, 0x12, 0x14, 0x17, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff),
  fc.integer({ min: 0, max: 255 }),
);

/** Delivery: the same bytes cut many ways, from byte-by-byte to whole. */
const sizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 4096 })), { minLength: 1, maxLength: 6 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: byteValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cut' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('splice' as const), at: fc.nat(), source: fc.nat(), from: fc.nat(), length: fc.integer({ min: 1, max: 512 }) }),
  },
);
const mutations = (min = 1) => fc.array(mutation, { minLength: min, maxLength: 6 });

/** Small AMF values, including the null-prototype objects the decoder produces. */
const amfValue: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.double(), fc.integer({ min: -1, max: 0xffffffff }).map((n) => n as AmfValue)),
    fc.boolean(),
    fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom('live', 'key', 'onMetaData', '@setDataFrame', 'k?a=b', '', '../x')),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('app', 'tcUrl', 'width', 'height', 'framerate', 'videodatarate', 'x'), tie('v'), { maxKeys: 4 }),
  ),
})).v;

const messageEdit: fc.Arbitrary<MessageEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('args' as const), at: fc.nat(), args: fc.array(amfValue, { maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('type' as const), at: fc.nat(), typeId: fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22, 0, 255) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stream' as const), at: fc.nat(), streamId: fc.constantFrom(0, 1, 2, 0xffffffff) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('time' as const), at: fc.nat(), timestamp: fc.oneof(fc.nat(), fc.constant(0xffffffff)) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('chunk' as const), at: fc.nat(), size: fc.oneof(fc.integer({ min: 1, max: 70000 }), fc.constant(0)) }) },
);

// --- memory ----------------------------------------------------------------

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let before0 = process.memoryUsage();
let peakRss = 0;
/** RSS peak over the parser targets alone, before any session runs. */
let parserPeakRss = 0;
/** Samples RSS every 256 cases (the fuzz loop is synchronous, so a timer would never run). */
function sample(): void {
  if ((++casesRun & 0xff) === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
}

/**
 * A refused session keeps its socket for a 500 ms grace timer (so the peer can
 * read the status), which the synchronous fuzz loop never lets run; session
 * cases go in batches with a pause between, so they do not pile up.
 */
async function inBatches<Ts>(property: fc.IProperty<Ts>, name: keyof typeof SHARES): Promise<void> {
  const total = runs(name);
  const seed = SEED + seedIndex++;
  for (let done = 0, batch = 0; done < total; done += SESSION_BATCH, batch++) {
    fc.assert(property, { numRuns: Math.min(SESSION_BATCH, total - done), seed: (seed * 31 + batch) | 0 });
    await sleep(SESSION_GRACE_MS);
  }
}
const SESSION_BATCH = 2500;
const SESSION_GRACE_MS = 520;
const MiB = 1024 * 1024;

// --- the runs ----------------------------------------------------------------

describe(`protocol fuzz: ${TOTAL} cases, seed ${SEED}`, () => {
  const started = Date.now();
  before(() => {
    gc();
    before0 = process.memoryUsage();
    peakRss = before0.rss;
  });

  test('the seed corpus is what the recorder captured', () => {
    assert.deepEqual(CAPTURES.map((c) => c[0]), [3, 3]);
    for (const messages of CAPTURED_MESSAGES) {
      const names = messages.filter((m) => m.typeId === 20).length;
      assert.ok(names >= 7, 'connect … deleteStream');
      assert.ok(messages.filter((m) => m.typeId === 9).length >= 10, 'video messages');
      assert.ok(messages.filter((m) => m.typeId === 8).length >= 10, 'audio messages');
    }
    assert.ok(AMF_BODIES.length >= 14 && VIDEO_TAGS.length >= 20 && AUDIO_TAGS.length >= 80, 'corpus sizes');
    // The pristine captures pass every target, delivered whole and byte by byte.
    for (const capture of CAPTURES) {
      fuzzHandshake(capture.subarray(0, HANDSHAKE_BYTES + 100), [1]);
      fuzzSession(capture, [capture.length]);
      fuzzSession(capture, [1]);
      assert.deepEqual(fuzzConnection(capture, [1]), fuzzConnection(capture, [capture.length]));
      assert.deepEqual(fuzzConnection(capture, [7], true, true), fuzzConnection(capture, [capture.length]));
    }
  });

  describe('crashers found so far (fixtures/crashers/), replayed whole and byte by byte', () => {
    const dir = new URL('./fixtures/crashers/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
    test('there are crasher fixtures to replay', () => assert.ok(files.length > 0, `no .bin files in ${dir.pathname}`));
    for (const file of files) {
      test(file, () => {
        const bytes = readFileSync(new URL(file, dir));
        const target = file.split('--')[0];
        for (const split of [[bytes.length || 1], [1]]) {
          switch (target) {
            case 'handshake':
              fuzzHandshake(bytes, split);
              break;
            case 'chunk':
              for (const limits of LIMIT_PROFILES) fuzzChunkDecoder(bytes, split, limits);
              break;
            case 'amf0':
              fuzzAmf0(bytes);
              break;
            case 'video':
            case 'audio':
              fuzzFlvTag(target === 'video' ? 9 : 8, bytes);
              break;
            case 'session':
              fuzzSession(bytes, split);
              fuzzConnection(bytes, split);
              break;
            default:
              assert.fail(`unknown target in ${file}`);
          }
        }
      });
    }
  });

  test(`handshake: random C0C1C2 (${runs('handshakeRandom')} cases)`, () => {
    fc.assert(
      fc.property(fc.boolean(), noise(3400), sizes, (rtmp, bytes, split) => {
        if (rtmp && bytes.length > 0) bytes[0] = 3;
        fuzzHandshake(bytes, split);
        sample();
      }),
      params('handshakeRandom'),
    );
  });

  test(`handshake: mutated ffmpeg (digest) and rtmp2sink (plain) C0C1C2 (${runs('handshakeMutated')} cases)`, () => {
    const seeds = CAPTURES.map((c) => c.subarray(0, HANDSHAKE_BYTES + 64));
    fc.assert(
      fc.property(fc.nat(), mutations(), sizes, (which, edits, split) => {
        fuzzHandshake(mutate(seeds[which % seeds.length]!, edits, seeds), split);
        sample();
      }),
      params('handshakeMutated'),
    );
  });

  test(`chunk decoder: random bytes under each limit profile (${runs('chunkRandom')} cases)`, () => {
    fc.assert(
      fc.property(fc.nat(), fc.oneof(noise(2048), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))), sizes, (profile, bytes, split) => {
        fuzzChunkDecoder(bytes, split, LIMIT_PROFILES[profile % LIMIT_PROFILES.length]!);
        sample();
      }),
      params('chunkRandom'),
    );
  });

  test(`chunk decoder: mutated captured streams (${runs('chunkMutated')} cases)`, () => {
    const reference = CHUNK_STREAMS.map((s) => fuzzChunkDecoder(s, [s.length], LIMIT_PROFILES[0]!));
    fc.assert(
      fc.property(fc.nat(), fc.nat(), mutations(0), sizes, (which, profile, edits, split) => {
        const source = CHUNK_STREAMS[which % CHUNK_STREAMS.length]!;
        const limits = LIMIT_PROFILES[profile % LIMIT_PROFILES.length]!;
        const got = fuzzChunkDecoder(mutate(source, edits, CHUNK_STREAMS), split, limits);
        // Unmutated, the decode does not depend on how the bytes were cut.
        if (edits.length === 0 && limits === LIMIT_PROFILES[0]) {
          assert.deepEqual(got.map((m) => [m.csid, m.typeId, m.streamId, m.timestamp, m.payload.toString('hex')]),
            reference[which % reference.length]!.map((m) => [m.csid, m.typeId, m.streamId, m.timestamp, m.payload.toString('hex')]));
        }
        sample();
      }),
      params('chunkMutated'),
    );
  });

  test(`AMF0 + commands: random bytes (${runs('amfRandom')} cases)`, () => {
    const amfByte = fc.oneof(fc.integer({ min: 0, max: 0x11 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 96 }), fc.array(amfByte, { maxLength: 96 }).map((a) => Uint8Array.from(a))), (bytes) => {
        fuzzAmf0(Buffer.from(bytes));
        sample();
      }),
      params('amfRandom'),
    );
  });

  test(`AMF0 + commands: mutated captured commands and onMetaData (${runs('amfMutated')} cases)`, () => {
    fc.assert(
      fc.property(fc.nat(), mutations(), (which, edits) => {
        fuzzAmf0(mutate(AMF_BODIES[which % AMF_BODIES.length]!, edits, AMF_BODIES));
        sample();
      }),
      params('amfMutated'),
    );
  });

  test(`FLV tags: random bytes (${runs('flvRandom')} cases)`, () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 96 }), (video, bytes) => {
        fuzzFlvTag(video ? 9 : 8, Buffer.from(bytes));
        sample();
      }),
      params('flvRandom'),
    );
  });

  test(`FLV tags: mutated captured audio/video tags and sequence headers (${runs('flvMutated')} cases)`, () => {
    // Sequence headers first in the rotation: they reach the AVC/AAC configuration parsers.
    const video = [...VIDEO_TAGS].sort((a, b) => (a[1] === 0 ? -1 : 0) - (b[1] === 0 ? -1 : 0)).slice(0, 8);
    const audio = [...AUDIO_TAGS].sort((a, b) => (a[1] === 0 ? -1 : 0) - (b[1] === 0 ? -1 : 0)).slice(0, 8);
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), mutations(), (isVideo, which, edits) => {
        const corpus = isVideo ? video : audio;
        fuzzFlvTag(isVideo ? 9 : 8, mutate(corpus[which % corpus.length]!, edits, corpus));
        sample();
      }),
      params('flvMutated'),
    );
  });

  test(`server connection: mutated captures, publishes accepted or held (${runs('connectionMutated')} cases)`, () => {
    fc.assert(
      fc.property(fc.nat(), mutations(), sizes, fc.boolean(), fc.boolean(), (which, edits, split, accept, direct) => {
        fuzzConnection(mutate(CAPTURES[which % CAPTURES.length]!, edits, CHUNK_STREAMS, HANDSHAKE_BYTES), split, accept, direct);
        sample();
      }),
      params('connectionMutated'),
    );
  });

  test(`server connection: hostile messages, validly chunked; unedited, the events do not depend on the split or on how media is taken (${runs('connectionEdited')} cases)`, () => {
    const reference = CAPTURES.map((_, i) => fuzzConnection(editMessages(i, []), [1 << 30]));
    fc.assert(
      fc.property(fc.nat(), fc.array(messageEdit, { minLength: 0, maxLength: 5 }), sizes, fc.boolean(), (which, edits, split, direct) => {
        const events = fuzzConnection(editMessages(which, edits), split, true, direct);
        if (edits.length === 0) assert.deepEqual(events, reference[which % reference.length]);
        sample();
      }),
      params('connectionEdited'),
    );
  });

  test('parser targets: RSS peak within a bound (nothing retained between cases)', () => {
    parserPeakRss = peakRss - before0.rss;
    process.stderr.write(`# fuzz memory: parser targets RSS peak +${(parserPeakRss / MiB).toFixed(1)} MiB\n`);
    assert.ok(parserPeakRss < 128 * MiB, `RSS peaked ${parserPeakRss} bytes above the start`);
  });

  test(`session: mutated captures through a whole RtmpSession (${runs('sessionMutated')} cases)`, async () => {
    const property = fc.property(fc.nat(), mutations(), sizes, (which, edits, split) => {
      // Mutations after the handshake: the stream, not C1, is what we want to reach.
      fuzzSession(mutate(CAPTURES[which % CAPTURES.length]!, edits, CHUNK_STREAMS, HANDSHAKE_BYTES), split);
      sample();
    });
    await inBatches(property, 'sessionMutated');
  });

  test(`session: hostile commands, types, ids, timestamps and chunk sizes, validly chunked (${runs('sessionEdited')} cases)`, async () => {
    const property = fc.property(fc.nat(), fc.array(messageEdit, { minLength: 1, maxLength: 5 }), sizes, (which, edits, split) => {
      fuzzSession(editMessages(which, edits), split);
      sample();
    });
    await inBatches(property, 'sessionEdited');
  });

  after(() => {
    process.stderr.write(`# protocol fuzz: ${casesRun} cases, seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  test('memory stayed bounded: heap and buffers back near where they started, RSS peak within a bound', async () => {
    assert.ok(casesRun >= TOTAL * 0.99, `${casesRun} cases run of ${TOTAL}`);
    await sleep(SESSION_GRACE_MS);
    // V8 frees array buffer memory on a background sweeper after a GC: give it a few rounds.
    gc();
    for (let i = 0; i < 20 && process.memoryUsage().arrayBuffers - before0.arrayBuffers >= 16 * MiB; i++) {
      await sleep(100);
      gc();
    }
    const now = process.memoryUsage();
    const heap = now.heapUsed - before0.heapUsed;
    const buffers = now.arrayBuffers - before0.arrayBuffers;
    const rssPeak = peakRss - before0.rss;
    process.stderr.write(
      `# fuzz memory: after GC heap +${(heap / MiB).toFixed(1)} MiB, buffers +${(buffers / MiB).toFixed(1)} MiB; RSS peak +${(rssPeak / MiB).toFixed(1)} MiB\n`,
    );
    assert.ok(heap < 16 * MiB, `heap grew by ${heap} bytes`);
    assert.ok(buffers < 16 * MiB, `array buffers grew by ${buffers} bytes`);
    // Up to SESSION_BATCH refused sessions (tens of kB each) wait out their grace at once.
    assert.ok(rssPeak < 640 * MiB, `RSS peaked ${rssPeak} bytes above the start`);
  });
});
