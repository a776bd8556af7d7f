import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readBoxes, readBoxHeader } from '../../../src/package/mp4/boxes.ts';
import { Mp4Splitter, type SplitItem } from '../../../src/package/mp4/splitter.ts';
import { box, fullBox, u32 } from '../../../src/package/mp4/write.ts';
import { fixture } from './support.ts';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

/** Items reduced to comparable values. */
function summary(items: readonly SplitItem[]): unknown[] {
  return items.map((i) => ({ kind: i.kind, bytes: i.bytes.toString('hex'), info: i.info, skipped: i.kind === 'fragment' ? i.skipped : undefined }));
}

function splitAll(chunks: readonly Buffer[], options?: ConstructorParameters<typeof Mp4Splitter>[0]): SplitItem[] {
  const s = new Mp4Splitter(options);
  const items: SplitItem[] = [];
  for (const c of chunks) items.push(...s.push(c));
  items.push(...s.end());
  return items;
}

/** Cuts `bytes` at the given sorted offsets. */
function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const a of at) {
    out.push(bytes.subarray(prev, a));
    prev = a;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const VIDEO = fixture('tiny-video-ffmpeg4.mp4');
const AUDIO = fixture('tiny-audio-ffmpeg4.mp4');

describe('boxes: header reader (ISO/IEC 14496-12 4.2)', () => {
  it('reads 32-bit, 64-bit largesize and size-0 headers; short input is undefined', () => {
    assert.deepEqual(readBoxHeader(Buffer.from('00000010667265650000000000000000', 'hex'), 0), { type: 'free', headerSize: 8, size: 16 });
    const large = Buffer.from('000000016d6461740000000000000018' + '0000000000000000', 'hex');
    assert.deepEqual(readBoxHeader(large, 0), { type: 'mdat', headerSize: 16, size: 24 });
    assert.equal(readBoxHeader(large.subarray(0, 12), 0), undefined);
    assert.deepEqual(readBoxHeader(Buffer.from('000000006d646174', 'hex'), 0), { type: 'mdat', headerSize: 8, size: undefined });
    assert.equal(readBoxHeader(Buffer.from('0000000866', 'hex'), 0), undefined);
  });

  it('refuses sizes below the header and largesize past 2^53 with typed errors', () => {
    assert.throws(() => readBoxHeader(Buffer.from('0000000466726565', 'hex'), 0), isCode('ERR_MP4_INVALID'));
    assert.throws(() => readBoxHeader(Buffer.from('000000016d646174000000000000000c', 'hex'), 0), isCode('ERR_MP4_INVALID'));
    assert.throws(() => readBoxHeader(Buffer.from('000000016d646174ffffffffffffffff', 'hex'), 0), isCode('ERR_MP4_UNSUPPORTED'));
  });

  it('readBoxes walks siblings, extends size 0 to the end and rejects an overrun', () => {
    const two = Buffer.concat([box('free', Buffer.from('ab', 'hex')), Buffer.from('000000006d64617401020304', 'hex')]);
    const boxes = readBoxes(two);
    assert.deepEqual(boxes.map((b) => [b.type, b.start, b.size, b.payload.toString('hex')]), [
      ['free', 0, 9, 'ab'],
      ['mdat', 9, 12, '01020304'],
    ]);
    assert.throws(() => readBoxes(two.subarray(0, 8)), isCode('ERR_MP4_INVALID'));
    assert.throws(() => readBoxes(Buffer.from('0000002066726565', 'hex')), isCode('ERR_MP4_INVALID'));
  });
});

describe('Mp4Splitter: ffmpeg 4.2.1 fixtures', () => {
  const whole = splitAll([VIDEO]);

  it('splits ftyp+moov(+udta) into one init item and each moof+mdat into a fragment, skipping mfra', () => {
    assert.deepEqual(
      whole.map((i) => i.kind),
      ['init', 'fragment', 'fragment', 'fragment'],
    );
    const init = whole[0]!;
    assert.equal(init.kind, 'init');
    assert.deepEqual(readBoxes(init.bytes).map((b) => b.type), ['ftyp', 'moov']);
    let expectedSeq = 1;
    for (const item of whole.slice(1)) {
      assert.equal(item.kind, 'fragment');
      if (item.kind !== 'fragment') continue;
      assert.deepEqual(readBoxes(item.bytes).map((b) => b.type), ['moof', 'mdat']);
      assert.equal(item.info.sequenceNumber, expectedSeq++);
      assert.deepEqual(item.skipped, []);
    }
    // The bytes are the file minus the trailing mfra.
    const mfra = readBoxes(VIDEO).at(-1)!;
    assert.equal(mfra.type, 'mfra');
    assert.ok(Buffer.concat(whole.map((i) => i.bytes)).equals(VIDEO.subarray(0, mfra.start)));
  });

  it('items of one push are views of it, not copies', () => {
    for (const item of whole) assert.equal(item.bytes.buffer, VIDEO.buffer);
  });

  it('gives the same items for the file split at every byte boundary', () => {
    const expected = summary(whole);
    for (let at = 1; at < VIDEO.length; at++) {
      assert.deepEqual(summary(splitAll(cut(VIDEO, [at]))), expected, `split at ${at}`);
    }
  });

  it('gives the same items one byte at a time', () => {
    assert.deepEqual(summary(splitAll(cut(VIDEO, Array.from({ length: VIDEO.length - 1 }, (_, i) => i + 1)))), summary(whole));
  });

  it('gives the same items in random chunkings (fast-check)', () => {
    const expectedAudio = summary(splitAll([AUDIO]));
    const expectedVideo = summary(whole);
    fc.assert(
      fc.property(fc.boolean(), fc.uniqueArray(fc.integer({ min: 1, max: VIDEO.length - 1 }), { maxLength: 40 }), (audio, points) => {
        const bytes = audio ? AUDIO : VIDEO;
        const at = points.filter((p) => p < bytes.length).sort((a, b) => a - b);
        assert.deepEqual(summary(splitAll(cut(bytes, at))), audio ? expectedAudio : expectedVideo);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Mp4Splitter: boxes between fragments, restarts, limits', () => {
  const items = splitAll([VIDEO]);
  const init = items[0]!.bytes;
  const frags = items.slice(1).map((i) => i.bytes);
  const free = box('free', Buffer.alloc(3));
  const styp = box('styp', Buffer.from('msdh', 'latin1'), u32(0), Buffer.from('msdhmsix', 'latin1'));
  const prft = fullBox('prft', 1, 0, u32(1), Buffer.alloc(8), Buffer.alloc(8));

  it('tolerates styp/prft/free between fragments and names them in skipped; a free inside the init is kept', () => {
    const stream = Buffer.concat([init, free, styp, prft, frags[0]!, free, frags[1]!]);
    const out = splitAll([stream]);
    assert.deepEqual(out.map((i) => i.kind), ['init', 'fragment', 'fragment']);
    assert.ok(out[0]!.bytes.equals(Buffer.concat([init, free, styp, prft])), 'boxes before the first moof belong to the init');
    assert.ok(out[1]!.bytes.equals(frags[0]!));
    assert.deepEqual(out[2]!.kind === 'fragment' && out[2]!.skipped, ['free']);
  });

  it('a second ftyp+moov after fragments starts a new init segment', () => {
    const out = splitAll([Buffer.concat([init, frags[0]!, init, frags[1]!])]);
    assert.deepEqual(out.map((i) => i.kind), ['init', 'fragment', 'init', 'fragment']);
    assert.ok(out[2]!.bytes.equals(init));
  });

  it('a size-0 mdat at the end of the stream completes at end()', () => {
    const last = Buffer.from(frags[0]!);
    const moofSize = last.readUInt32BE(0);
    last.writeUInt32BE(0, moofSize);
    const s = new Mp4Splitter();
    assert.equal(s.push(Buffer.concat([init, last])).length, 1);
    const [frag] = s.end();
    assert.equal(frag?.kind, 'fragment');
    assert.ok(frag!.bytes.equals(last));
  });

  it('refuses a box over maxBoxSize on its header alone, before buffering the body', () => {
    const s = new Mp4Splitter({ maxBoxSize: 1024 });
    assert.throws(() => s.push(Buffer.from('0000080066726565', 'hex')), isCode('ERR_MP4_TOO_LARGE'));
    const l = new Mp4Splitter({ maxBoxSize: 1024 });
    assert.throws(() => l.push(Buffer.from('000000016d646174000000ffffffffff', 'hex')), isCode('ERR_MP4_TOO_LARGE'));
  });

  it('refuses an init segment growing past maxItemSize (endless free boxes)', () => {
    const s = new Mp4Splitter({ maxBoxSize: 64, maxItemSize: 200 });
    assert.throws(() => {
      for (let i = 0; i < 100; i++) s.push(box('free', Buffer.alloc(40)));
    }, isCode('ERR_MP4_TOO_LARGE'));
    assert.ok(s.bufferedBytes <= 200 + 48, 'held bytes within the limit, plus the refused chunk');
  });

  it('malformed streams throw typed errors: mdat before moof, moof without mdat, no moov, truncated at end', () => {
    assert.throws(() => splitAll([init, box('mdat')]), isCode('ERR_MP4_INVALID'));
    assert.throws(() => splitAll([init, frags[0]!.subarray(0, frags[0]!.readUInt32BE(0)), frags[1]!]), isCode('ERR_MP4_INVALID'));
    assert.throws(() => splitAll([frags[0]!]), isCode('ERR_MP4_INVALID'));
    assert.throws(() => splitAll([init, frags[0]!.subarray(0, 100)]), isCode('ERR_MP4_INVALID'));
  });
});
