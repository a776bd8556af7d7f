/**
 * The flood sender's chunk stream (bench/lib/flood-stream.ts): what it writes
 * after the publish must parse as the file's messages, sequence headers once,
 * and timestamps that keep increasing across loops, or the servers measured
 * would be parsing something other than a publisher's stream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { passes, shift } from '../../bench/lib/flood-stream.ts';
import { ChunkDecoder } from '../../src/rtmp/chunk-decoder.ts';
import { ChunkEncoder } from '../../src/rtmp/chunk-encoder.ts';
import { AAC_SEQUENCE_HEADER, AVC_SEQUENCE_HEADER, aacFrame, avcFrame } from '../support/rtmp-bytes.ts';

const big = Buffer.concat([avcFrame(true), Buffer.alloc(10_000, 7)]);
const tags = [
  { type: 18 as const, timestamp: 0, body: Buffer.from('0200', 'hex') },
  { type: 9 as const, timestamp: 0, body: AVC_SEQUENCE_HEADER },
  { type: 8 as const, timestamp: 0, body: AAC_SEQUENCE_HEADER },
  { type: 9 as const, timestamp: 0, body: big },
  { type: 8 as const, timestamp: 10, body: aacFrame() },
  { type: 9 as const, timestamp: 33, body: avcFrame(false) },
  { type: 8 as const, timestamp: 31, body: aacFrame() },
];

for (const chunkSize of [128, 4096]) {
  test(`head + 3 looped passes at ${chunkSize}-byte chunks parse as the file's messages, timestamps increasing`, () => {
    const streamId = 1;
    const { head, body, period } = passes(tags, streamId, chunkSize);
    const setChunkSize = Buffer.alloc(4);
    setChunkSize.writeUInt32BE(chunkSize);
    const wire = [new ChunkEncoder().encode({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: setChunkSize }), head];
    for (let pass = 0; pass < 3; pass++) wire.push(shift(Buffer.from(body.bytes), body, pass * period));
    const messages = new ChunkDecoder().push(Buffer.concat(wire)).slice(1);

    assert.equal(messages.length, 3 + 3 * 4);
    assert.deepEqual(messages.slice(0, 3).map((m) => m.payload), [tags[0]!.body, AVC_SEQUENCE_HEADER, AAC_SEQUENCE_HEADER]);
    const frames = messages.slice(3);
    for (const [i, m] of frames.entries()) {
      const t = tags[3 + (i % 4)]!;
      assert.equal(m.typeId, t.type);
      assert.equal(m.streamId, streamId);
      assert.deepEqual(m.payload, t.body);
      assert.equal(m.timestamp, t.timestamp + Math.floor(i / 4) * period);
    }
    for (const type of [8, 9]) {
      const ts = frames.filter((m) => m.typeId === type).map((m) => m.timestamp);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! > ts[i - 1]!, `type ${type} timestamps ${ts.join(',')}`);
    }
  });
}

test('a loop whose timestamps would pass 24 bits is refused, not wrapped', () => {
  const { body } = passes(tags, 1, 4096);
  assert.throws(() => shift(Buffer.from(body.bytes), body, 0xffffff), /24 bits/);
});
