import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseFragment } from '../../../src/package/mp4/fragment.ts';
import { parseInit } from '../../../src/package/mp4/init.ts';
import { Mp4Splitter } from '../../../src/package/mp4/splitter.ts';
import { rebaseFragment } from '../../../src/package/mp4/write.ts';
import { fixture, isMp4Error } from './support.ts';

const FIXTURES = [fixture('tiny-video-ffmpeg4.mp4'), fixture('tiny-audio-ffmpeg4.mp4')];
const MAX_BOX = 8 * 1024;
const MAX_ITEM = 12 * 1024;

/** Runs `fn`; anything thrown must be one of our MP4 errors. */
function onlyTyped(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isMp4Error(err), `threw something other than an Mp4 error: ${String((err as Error)?.stack ?? err)}`);
  }
}

/** Feeds chunks to a small-limit splitter; its buffered bytes never pass the item limit plus the chunk in hand. Each item is also parsed and rebased. */
function feed(chunks: readonly Buffer[]): void {
  const s = new Mp4Splitter({ maxBoxSize: MAX_BOX, maxItemSize: MAX_ITEM });
  onlyTyped(() => {
    for (const c of chunks) {
      for (const item of s.push(c)) {
        assert.ok(item.bytes.length <= MAX_ITEM);
        if (item.kind === 'fragment') onlyTyped(() => rebaseFragment(item.bytes, 123456789, 42));
      }
      assert.ok(s.bufferedBytes <= MAX_ITEM + c.length, `${s.bufferedBytes} bytes buffered`);
    }
    s.end();
  });
}

/** A mutation of a real file: overwrite bytes, write a 32-bit value (hits sizes, counts, offsets), or truncate. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.nat(), fc.constantFrom(0, 1, 7, 8, 0xffffffff, 0x7fffffff, 0x80000000)) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
);

/** The fragment with its tfdt rewritten as version 0 (4 bytes shorter), moof/traf sizes and the trun data_offset adjusted. */
function withTfdtV0(fragment: Buffer): Buffer {
  const at = fragment.indexOf('tfdt', 0, 'latin1') - 4;
  const t = parseFragment(fragment).tracks[0]!;
  const v0 = Buffer.alloc(16);
  v0.writeUInt32BE(16, 0);
  v0.write('tfdt', 4, 'latin1');
  v0.writeUInt32BE(t.baseDecodeTime! >>> 0, 12);
  const out = Buffer.concat([fragment.subarray(0, at), v0, fragment.subarray(at + 20)]);
  out.writeUInt32BE(out.readUInt32BE(0) - 4, 0); // moof
  const traf = out.indexOf('traf', 0, 'latin1') - 4;
  out.writeUInt32BE(out.readUInt32BE(traf) - 4, traf);
  const trun = out.indexOf('trun', 0, 'latin1') - 4;
  out.writeInt32BE(out.readInt32BE(trun + 16) - 4, trun + 16);
  return out;
}

function mutate(src: Buffer, muts: readonly { kind: 'byte' | 'u32' | 'cut'; at: number; value: number }[]): Buffer {
  let b = Buffer.from(src);
  for (const m of muts) {
    const at = m.at % b.length;
    if (m.kind === 'byte') b[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= b.length) b.writeUInt32BE(m.value >>> 0, at);
    else if (m.kind === 'cut') b = b.subarray(0, Math.max(1, at));
  }
  return b;
}

describe('mp4 fuzz (fast-check): only typed errors, bounded buffering', () => {
  it('random bytes through the splitter and the parsers', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (arrays) => {
        const chunks = arrays.map((a) => Buffer.from(a));
        feed(chunks);
        const all = Buffer.concat(chunks);
        onlyTyped(() => parseInit(all));
        onlyTyped(() => parseFragment(all));
        onlyTyped(() => rebaseFragment(all, 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes behind a valid box header of every type we look into', () => {
    const types = ['ftyp', 'moov', 'moof', 'mdat', 'mfhd', 'traf', 'tfhd', 'tfdt', 'trun', 'styp', 'free'];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const b = Buffer.alloc(8 + body.length);
        b.writeUInt32BE(b.length, 0);
        b.write(type, 4, 'latin1');
        b.set(body, 8);
        feed([b]);
        onlyTyped(() => parseInit(b));
        onlyTyped(() => parseFragment(b));
        onlyTyped(() => rebaseFragment(b, 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated ffmpeg fixtures, in random chunkings', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: FIXTURES.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 6 }),
        (which, muts, cuts) => {
          const bytes = mutate(FIXTURES[which]!, muts);
          const at = [...new Set(cuts.filter((c) => c < bytes.length))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const a of at) {
            chunks.push(bytes.subarray(prev, a));
            prev = a;
          }
          chunks.push(bytes.subarray(prev));
          feed(chunks);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('mutated init segments and fragments straight into parseInit / parseFragment / rebaseFragment', () => {
    const items = FIXTURES.flatMap((f) => new Mp4Splitter().push(f));
    assert.ok(items.length > 4);
    // Also fragments whose tfdt is 32-bit, so that rebasing must grow the moof and move offsets.
    for (const item of items.slice()) {
      if (item.kind !== 'fragment') continue;
      const v0 = withTfdtV0(item.bytes);
      assert.equal(parseFragment(v0).tracks[0]!.tfdtVersion, 0);
      assert.ok(rebaseFragment(v0, item.info.tracks[0]!.baseDecodeTime!).equals(item.bytes));
      items.push({ ...item, bytes: v0 });
    }
    fc.assert(
      fc.property(fc.nat({ max: items.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, muts) => {
        const item = items[which]!;
        const bytes = mutate(item.bytes, muts);
        if (item.kind === 'init') onlyTyped(() => parseInit(bytes));
        else {
          onlyTyped(() => parseFragment(bytes));
          onlyTyped(() => rebaseFragment(bytes, 2 ** 50, 3));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
