import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkDecoder } from '../../src/rtmp/chunk-decoder.ts';
import { encodeChunks } from '../../src/rtmp/chunk-encoder.ts';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { decodeCommand } from '../../src/rtmp/command.ts';
import { decodeControl } from '../../src/rtmp/control.ts';
import { decodeConnect, encodeConnectRejected, encodeConnectResult } from '../../src/rtmp/messages/connect.ts';
import { decodePublish, encodeOnFCPublish, encodePublishStart } from '../../src/rtmp/messages/publish.ts';
import { decodeAbort, encodeAbort } from '../../src/rtmp/messages/abort.ts';
import { decodeAcknowledgement, encodeAcknowledgement } from '../../src/rtmp/messages/acknowledgement.ts';
import { decodeSetChunkSize, encodeSetChunkSize } from '../../src/rtmp/messages/set-chunk-size.ts';
import { decodeSetPeerBandwidth, encodeSetPeerBandwidth } from '../../src/rtmp/messages/set-peer-bandwidth.ts';
import { decodeUserControl, encodeUserControl } from '../../src/rtmp/messages/user-control.ts';
import { decodeWindowAckSize, encodeWindowAckSize } from '../../src/rtmp/messages/window-ack-size.ts';

/** Protocol control messages (RTMP spec 5.4, 7.1.7): one module each, byte fixtures both ways. */
describe('RTMP control messages', () => {
  const cases: [string, ReturnType<typeof encodeAbort>, string, number, () => unknown, unknown][] = [
    ['Set Chunk Size', encodeSetChunkSize(4096), '00001000', 1, () => decodeSetChunkSize(Buffer.from('00001000', 'hex')), 4096],
    ['Abort', encodeAbort(6), '00000006', 2, () => decodeAbort(Buffer.from('00000006', 'hex')), 6],
    ['Acknowledgement', encodeAcknowledgement(0x12345678), '12345678', 3, () => decodeAcknowledgement(Buffer.from('12345678', 'hex')), 0x12345678],
    ['Window Acknowledgement Size', encodeWindowAckSize(2500000), '002625a0', 5, () => decodeWindowAckSize(Buffer.from('002625a0', 'hex')), 2500000],
    ['Set Peer Bandwidth', encodeSetPeerBandwidth(2500000, 2), '002625a002', 6, () => decodeSetPeerBandwidth(Buffer.from('002625a002', 'hex')), { size: 2500000, limitType: 2 }],
    ['Ping Request', encodeUserControl(6, 0x1234), '000600001234', 4, () => decodeUserControl(Buffer.from('000600001234', 'hex')), { event: 6, timestamp: 0x1234 }],
  ];
  for (const [name, encoded, hex, typeId, decode, value] of cases) {
    test(name, () => {
      assert.equal(encoded.payload.toString('hex'), hex);
      assert.equal(encoded.typeId, typeId);
      assert.deepEqual([encoded.csid, encoded.streamId], [2, 0], 'chunk stream 2, message stream 0 (RTMP spec 5.4)');
      assert.deepEqual(decode(), value);
    });
  }

  test('short bodies are ERR_RTMP_PROTOCOL, naming the message', () => {
    assert.throws(() => decodeSetChunkSize(Buffer.alloc(3)), { code: 'ERR_RTMP_PROTOCOL', message: /Set Chunk Size: body shorter than 4/ });
    assert.throws(() => decodeSetPeerBandwidth(Buffer.alloc(4)), { code: 'ERR_RTMP_PROTOCOL' });
    assert.throws(() => decodeUserControl(Buffer.from('0006', 'hex')), { code: 'ERR_RTMP_PROTOCOL', message: /User Control/ });
  });

  test('Set Chunk Size is decoded by one module, with the same value for the decoder and decodeControl', () => {
    const body = Buffer.from('80000000', 'hex');
    assert.deepEqual(decodeControl(1, body), { kind: 'set-chunk-size', chunkSize: 0x80000000 });
    // The decoder applies the bound (1..2^31-1): the same raw value is refused there.
    assert.throws(() => new ChunkDecoder().push(encodeChunks({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: body }, 128)), { code: 'ERR_RTMP_CHUNK_SIZE' });
    const decoder = new ChunkDecoder();
    decoder.push(encodeChunks(encodeSetChunkSize(4096), 128));
    assert.equal(decoder.chunkSize, 4096);
  });
});

describe('RTMP command messages', () => {
  test('connect: decoded once into what the server reads; answered as FMS does', () => {
    const cmd = decodeCommand(20, encodeAmf0('connect', 1, { app: 'live?token=x', tcUrl: 'rtmp://h/live', objectEncoding: 3 }));
    assert.deepEqual(decodeConnect(cmd), { transactionId: 1, app: 'live?token=x', tcUrl: 'rtmp://h/live', objectEncoding: 3 });
    assert.deepEqual(decodeConnect(decodeCommand(20, encodeAmf0('connect', 1, 'not an object'))), { transactionId: 1, app: undefined, tcUrl: undefined, objectEncoding: 0 });
    const result = decodeCommand(20, encodeConnectResult(1, 3).payload);
    assert.deepEqual([result.name, result.transactionId, { ...(result.args[0] as object) }], ['_result', 1, { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: 3 }]);
    const rejected = decodeCommand(20, encodeConnectRejected(1, 'no').payload);
    assert.deepEqual({ ...(rejected.args[0] as object) }, { level: 'error', code: 'NetConnection.Connect.Rejected', description: 'no', status: 404 });
  });

  test('publish: name and type as sent; Publish.Start on its stream, on the status chunk stream', () => {
    assert.deepEqual(decodePublish(decodeCommand(20, encodeAmf0('publish', 0, null, 'cam?k=1', 'live')), 1), { streamId: 1, name: 'cam?k=1', publishType: 'live' });
    const start = encodePublishStart(1, 'cam');
    assert.deepEqual([start.streamId, start.csid], [1, 5]);
    assert.deepEqual({ ...(decodeCommand(20, start.payload).args[0] as object) }, { level: 'status', code: 'NetStream.Publish.Start', description: 'cam is now published', details: 'cam' });
    // A null-prototype AMF object as the FCPublish name must not throw (String() would).
    const fc = decodeCommand(20, encodeOnFCPublish(Object.create(null)).payload);
    assert.equal((fc.args[0] as { description: string }).description, 'FCPublish to object');
  });
});
