import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ChunkDecoder, type RawMessage } from '../../src/rtmp/chunk-decoder.ts';
import { encodeChunks } from '../../src/rtmp/chunk-encoder.ts';
import { decodeControl, setChunkSize } from '../../src/rtmp/control.ts';
import { ProxyRtmpError } from '../../src/errors.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decodes `input` whole, byte by byte, and split at every boundary; all must agree. */
function decodeAllWays(input: Buffer, limits = {}): RawMessage[] {
  const whole = new ChunkDecoder(limits).push(input);
  const bytewise = new ChunkDecoder(limits);
  const oneByOne: RawMessage[] = [];
  for (const b of input) oneByOne.push(...bytewise.push(Buffer.from([b])));
  assert.deepEqual(normalise(oneByOne), normalise(whole), 'byte-by-byte decode differs');
  for (let cut = 1; cut < input.length; cut++) {
    const d = new ChunkDecoder(limits);
    const got = [...d.push(input.subarray(0, cut)), ...d.push(input.subarray(cut))];
    assert.deepEqual(normalise(got), normalise(whole), `split at ${cut} differs`);
  }
  return whole;
}

function normalise(messages: RawMessage[]) {
  return messages.map((m) => ({ ...m, payload: m.payload.toString('hex') }));
}

describe('ChunkDecoder fixtures (RTMP spec 5.3)', () => {
  test('type 0 chunk, 1-byte basic header: set chunk size on csid 2', () => {
    // fmt 0 csid 2 | ts 0 | len 4 | type 1 | stream 0 | body 0x00001000
    const [m] = decodeAllWays(hex('02 000000 000004 01 00000000 00001000'));
    assert.deepEqual(normalise([m!]), [{ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: '00001000' }]);
  });

  test('type 0 then type 1, type 2 and type 3 headers accumulate timestamp deltas', () => {
    const input = hex(`
      04 0003e8 000002 08 01000000 aaaa
      44 000014 000003 09 bbbbbb
      84 00000a cccccc
      c4 dddddd`);
    const ms = decodeAllWays(input);
    assert.deepEqual(normalise(ms), [
      { csid: 4, typeId: 8, streamId: 1, timestamp: 1000, payload: 'aaaa' },
      { csid: 4, typeId: 9, streamId: 1, timestamp: 1020, payload: 'bbbbbb' },
      { csid: 4, typeId: 9, streamId: 1, timestamp: 1030, payload: 'cccccc' },
      { csid: 4, typeId: 9, streamId: 1, timestamp: 1040, payload: 'dddddd' },
    ]);
  });

  test('2-byte (csid 64-319) and 3-byte (csid 320-65599) basic headers', () => {
    const input = hex(`
      00 00 000000 000001 14 00000000 11
      00 ff 000000 000001 14 00000000 22
      01 00 01 000000 000001 14 00000000 33
      01 ff ff 000000 000001 14 00000000 44`);
    assert.deepEqual(decodeAllWays(input).map((m) => m.csid), [64, 319, 320, 65599]);
  });

  test('a message longer than the chunk size continues in type 3 chunks', () => {
    const payload = Buffer.alloc(300, 7);
    const input = Buffer.concat([
      hex('03 000000 00012c 14 00000000'), payload.subarray(0, 128),
      hex('c3'), payload.subarray(128, 256),
      hex('c3'), payload.subarray(256),
    ]);
    const [m] = decodeAllWays(input);
    assert.equal(m!.payload.length, 300);
    assert.deepEqual(m!.payload, payload);
  });

  test('extended timestamp, repeated on type 3 continuations (spec form, as ffmpeg sends)', () => {
    const body = Buffer.alloc(200, 1);
    const input = Buffer.concat([
      hex('06 ffffff 0000c8 09 01000000 01020304'), body.subarray(0, 128),
      hex('c6 01020304'), body.subarray(128),
    ]);
    const [m] = decodeAllWays(input);
    assert.equal(m!.timestamp, 0x01020304);
    assert.deepEqual(m!.payload, body);
  });

  test('extended timestamp omitted on type 3 continuations (some encoders)', () => {
    const body = Buffer.alloc(200, 9);
    const input = Buffer.concat([
      hex('06 ffffff 0000c8 09 01000000 01020304'), body.subarray(0, 128),
      hex('c6'), body.subarray(128),
    ]);
    const [m] = decodeAllWays(input);
    assert.equal(m!.timestamp, 0x01020304);
    assert.deepEqual(m!.payload, body);
  });

  test('extended delta on a type 1 header, then a type 3 new message reuses it', () => {
    const input = hex(`
      07 000000 000001 08 01000000 aa
      47 ffffff 000001 08 01000000 bb
      c7 01000000 cc`);
    assert.deepEqual(decodeAllWays(input).map((m) => m.timestamp), [0, 0x01000000, 0x02000000]);
  });

  test('timestamps wrap modulo 2^32', () => {
    const input = hex(`
      07 ffffff 000001 08 01000000 fffffff0 aa
      87 000020 bb`);
    assert.deepEqual(decodeAllWays(input).map((m) => m.timestamp), [0xfffffff0, 0x10]);
  });

  test('Set Chunk Size applies to the chunks after it, even inside the same read', () => {
    const body = Buffer.alloc(1000, 5);
    const input = Buffer.concat([hex('02 000000 000004 01 00000000 00001000'), hex('03 000000 0003e8 14 00000000'), body]);
    const ms = decodeAllWays(input);
    assert.equal(ms.length, 2);
    assert.deepEqual(ms[1]!.payload, body);
  });

  test('Abort drops the partly received message of a chunk stream', () => {
    const input = Buffer.concat([
      hex('05 000000 0000c8 09 01000000'), Buffer.alloc(128, 1),
      hex('02 000000 000004 02 00000000 00000005'),
      hex('05 000000 000002 09 01000000 abcd'),
    ]);
    const ms = decodeAllWays(input);
    assert.deepEqual(ms.map((m) => m.typeId), [2, 9]);
    assert.equal(ms[1]!.payload.toString('hex'), 'abcd');
  });

  test('reassembled messages keep their bytes while later ones are decoded, across reassembly-buffer boundaries', () => {
    // Sizes straddle the decoder's pooled-buffer limits (16 KiB slices of 64 KiB slabs) and the chunk size.
    const sizes = [0, 1, 127, 129, 4095, 4097, 5000, 16 * 1024, 16 * 1024 + 1, 40_000, 3000, 12_000];
    for (const chunkSize of [128, 4096]) {
      const sent = Array.from({ length: 48 }, (_, i) => {
        const payload = Buffer.alloc(sizes[i % sizes.length]!);
        for (let j = 0; j < payload.length; j++) payload[j] = (i * 31 + j) & 0xff;
        return { csid: 4 + (i % 3), typeId: 9, streamId: 1, timestamp: i * 33, payload };
      });
      const wire = Buffer.concat([encodeChunks(setChunkSize(chunkSize), 128), ...sent.map((m) => encodeChunks(m, chunkSize))]);
      const decoder = new ChunkDecoder();
      const got: RawMessage[] = [];
      for (let offset = 0, i = 0; offset < wire.length; i++) {
        const n = [1, 7, 4096, 13, 65536, 3][i % 6]!;
        got.push(...decoder.push(wire.subarray(offset, offset + n)));
        offset += n;
      }
      assert.equal(got.length, sent.length + 1);
      got.slice(1).forEach((m, i) => assert.ok(m.payload.equals(sent[i]!.payload), `chunk size ${chunkSize}, message ${i} (${sent[i]!.payload.length} bytes)`));
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  test('interleaved chunk streams reassemble independently', () => {
    const a = Buffer.alloc(200, 0xa);
    const b = Buffer.alloc(150, 0xb);
    const input = Buffer.concat([
      hex('04 000000 0000c8 08 01000000'), a.subarray(0, 128),
      hex('05 000000 000096 09 01000000'), b.subarray(0, 128),
      hex('c4'), a.subarray(128),
      hex('c5'), b.subarray(128),
    ]);
    const ms = decodeAllWays(input);
    assert.deepEqual(ms.map((m) => [m.csid, m.payload.length]), [[4, 200], [5, 150]]);
  });
});

describe('protocol control and user control bodies (RTMP spec 5.4, 7.1.7)', () => {
  const cases: [number, string, object][] = [
    [1, '00001000', { kind: 'set-chunk-size', chunkSize: 4096 }],
    [2, '00000004', { kind: 'abort', csid: 4 }],
    [3, '0001e240', { kind: 'acknowledgement', sequence: 123456 }],
    [5, '002625a0', { kind: 'window-ack-size', size: 2500000 }],
    [6, '002625a002', { kind: 'set-peer-bandwidth', size: 2500000, limitType: 2 }],
    [4, '000000000001', { kind: 'user-control', event: 0, streamId: 1 }],
    [4, '00060000abcd', { kind: 'user-control', event: 6, timestamp: 0xabcd }],
    [4, '00070000abcd', { kind: 'user-control', event: 7, timestamp: 0xabcd }],
    [4, '00030000000100000bb8', { kind: 'user-control', event: 3, streamId: 1, bufferLength: 3000 }],
  ];
  for (const [type, body, expected] of cases) {
    test(`type ${type} body ${body}`, () => {
      assert.deepEqual(decodeControl(type, hex(body)), expected);
      // Through the chunk layer too, split every way.
      const [m] = decodeAllWays(encodeChunks({ csid: 2, typeId: type, streamId: 0, timestamp: 0, payload: hex(body) }, 128));
      assert.deepEqual(decodeControl(m!.typeId, m!.payload), expected);
    });
  }
  test('short bodies are protocol errors', () => {
    for (const type of [1, 2, 3, 5, 6, 4]) {
      assert.throws(() => decodeControl(type, hex('00')), { code: 'ERR_RTMP_PROTOCOL' });
    }
  });
});

describe('limits inside the decoder', () => {
  test('Set Chunk Size 0 and 2^31 are refused', () => {
    assert.throws(() => new ChunkDecoder().push(hex('02 000000 000004 01 00000000 00000000')), { code: 'ERR_RTMP_CHUNK_SIZE' });
    assert.throws(() => new ChunkDecoder().push(hex('02 000000 000004 01 00000000 80000000')), { code: 'ERR_RTMP_CHUNK_SIZE' });
    assert.throws(
      () => new ChunkDecoder({ maxChunkSize: 65536 }).push(hex('02 000000 000004 01 00000000 00010001')),
      { code: 'ERR_RTMP_CHUNK_SIZE' },
    );
  });

  test('a 0xFFFFFF-byte message with no body: refused above maxMessageSize, else waits within the buffer cap', () => {
    const header = hex('04 000000 ffffff 09 01000000');
    assert.throws(() => new ChunkDecoder({ maxMessageSize: 1 << 20 }).push(Buffer.concat([header, hex('00')])), {
      code: 'ERR_RTMP_MESSAGE_TOO_LARGE',
    });
    const d = new ChunkDecoder();
    assert.deepEqual(d.push(header), []);
    assert.equal(d.bufferedBytes, 0, 'nothing is reserved before the first payload byte');
    d.push(hex('00'));
    assert.equal(d.bufferedBytes, 0xffffff);
    // Two more such messages on other chunk streams break the 32 MiB cap.
    const next = (csid: string) => Buffer.concat([hex(`${csid} 000000 ffffff 09 01000000`), Buffer.alloc(128)]);
    assert.throws(() => d.push(Buffer.concat([Buffer.alloc(127), next('05'), next('06')])), {
      code: 'ERR_RTMP_BUFFER_LIMIT',
    });
  });

  test('thousands of chunk streams: refused past the cap', () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const chunk = Buffer.concat([hex('01 0000 000000 0000c8 09 01000000'), Buffer.alloc(128)]);
      chunk.writeUInt16LE(i, 1);
      parts.push(chunk); // a 200-byte message left unfinished after its first chunk on each
    }
    assert.throws(() => new ChunkDecoder({ maxChunkStreams: 64 }).push(Buffer.concat(parts)), { code: 'ERR_RTMP_TOO_MANY_CHUNK_STREAMS' });
  });

  test('a type 1, 2 or 3 chunk on a chunk stream with no previous header', () => {
    for (const first of ['44', '84', 'c4']) {
      assert.throws(() => new ChunkDecoder().push(hex(`${first} 000000 000001 09 aa`)), { code: 'ERR_RTMP_CHUNK_HEADER' });
    }
  });
});

describe('property tests', () => {
  const messageArb = fc.record({
    csid: fc.integer({ min: 3, max: 65599 }),
    typeId: fc.constantFrom(8, 9, 18, 20),
    streamId: fc.integer({ min: 0, max: 0xffffffff }),
    timestamp: fc.oneof(fc.integer({ min: 0, max: 0xfffffe }), fc.integer({ min: 0xffffff, max: 0xffffffff })),
    payload: fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a)),
  });

  test('encodeChunks → ChunkDecoder round-trips at any chunk size and any split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.array(messageArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (chunkSize, messages, cuts) => {
          const wire = Buffer.concat([
            encodeChunks(setChunkSize(chunkSize), 128),
            ...messages.map((m) => encodeChunks(m, chunkSize)),
          ]);
          const decoder = new ChunkDecoder({ maxChunkStreams: 65600 });
          const got: RawMessage[] = [];
          let offset = 0;
          for (let i = 0; offset < wire.length; i++) {
            const n = cuts[i % cuts.length]!;
            got.push(...decoder.push(wire.subarray(offset, offset + n)));
            offset += n;
          }
          assert.equal(got.length, messages.length + 1);
          got.slice(1).forEach((m, i) => {
            const want = messages[i]!;
            assert.equal(m.csid, want.csid);
            assert.equal(m.typeId, want.typeId);
            assert.equal(m.streamId, want.streamId);
            assert.equal(m.timestamp, want.timestamp);
            assert.deepEqual(m.payload, want.payload);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes raise only our typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        try {
          new ChunkDecoder().push(Buffer.from(bytes));
        } catch (err) {
          assert.ok(err instanceof ProxyRtmpError && err.code.startsWith('ERR_RTMP_'), String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });
});
