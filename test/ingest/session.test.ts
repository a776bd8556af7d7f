import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { aacFrame, ClientBytes, clientHandshake, serverMessages } from '../support/rtmp-bytes.ts';
import { sessionHarness } from '../support/session-harness.ts';

/**
 * Session behaviour beyond the happy path of a real encoder, on a memory
 * socket and a fake clock (no app, no listening sockets): the pure protocol
 * core is tested on its own in test/rtmp/server-connection.test.ts.
 */
describe('RTMP session', () => {
  const publishing = (key: string, options = {}) => {
    const h = sessionHarness(options);
    h.send(Buffer.concat([clientHandshake(), new ClientBytes().publish(key).bytes()]));
    assert.equal(h.statuses().at(-1)?.code, 'NetStream.Publish.Start');
    return h;
  };

  test('commands wrapped as AMF3 (type 17) are accepted', () => {
    const h = sessionHarness();
    const body = encodeAmf0('connect', 1, { app: 'live', objectEncoding: 3 });
    h.send(Buffer.concat([clientHandshake(), new ClientBytes().raw(3, 17, 0, 0, Buffer.concat([Buffer.from([0]), body])).bytes()]));
    const { messages, commands } = serverMessages(Buffer.concat(h.socket.chunks));
    const info = commands.find((c) => c.name === '_result')!.args[0] as Record<string, unknown>;
    assert.equal(info['code'], 'NetConnection.Connect.Success');
    assert.equal(info['objectEncoding'], 3);
    // connect announced our window, bandwidth and chunk size first (RTMP spec 7.2.1.1).
    assert.deepEqual(messages.slice(0, 3).map((m) => m.typeId), [5, 6, 1]);
  });

  test('Ping Request is answered with Ping Response; acknowledgements follow the peer window; figures are counted', () => {
    const h = sessionHarness();
    h.send(Buffer.concat([clientHandshake(), new ClientBytes().raw(2, 4, 0, 0, Buffer.from('000600001234', 'hex')).raw(2, 5, 0, 0, Buffer.from('00001000', 'hex')).publish('acked').bytes()]));
    const media = new ClientBytes().raw(4, 18, 1, 0, encodeAmf0('@setDataFrame', 'onMetaData', { width: 320, height: 240 }));
    for (let i = 0; i < 10; i++) media.raw(4, 8, 1, i * 23, Buffer.concat([Buffer.from([0xaf, 0x01]), Buffer.alloc(1000)]));
    const bytes = media.bytes();
    for (let o = 0; o < bytes.length; o += 1000) h.send(bytes.subarray(o, o + 1000));
    const { messages } = serverMessages(Buffer.concat(h.socket.chunks));
    const pong = messages.find((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 7)!;
    assert.equal(pong.payload.readUInt32BE(2), 0x1234);
    const ack = messages.find((m) => m.typeId === 3);
    assert.ok(ack !== undefined && ack.payload.readUInt32BE(0) >= 4096, `ack ${ack?.payload.readUInt32BE(0)}`);
    const entry = h.registry.get('acked')!;
    assert.equal(entry.metadata['width'], 320);
    assert.equal(entry.audioFrames, 10);
    assert.equal(entry.mediaBytes, 10 * 1002);
  });

  test('Enhanced RTMP VP9 is recognised and refused by name (HEVC and AV1 are taken)', () => {
    const h = publishing('vp9');
    // IsExHeader | keyframe | PacketTypeSequenceStart, FourCC 'vp09', then a record.
    h.send(new ClientBytes().raw(6, 9, 1, 0, Buffer.concat([Buffer.from([0x90]), Buffer.from('vp09'), Buffer.alloc(23)])).bytes());
    const last = h.statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.Rejected');
    assert.equal(last.status, 400);
    assert.match(last.description, /vp9 \(Enhanced RTMP FourCC 'vp09'\) is not supported; publish H\.264, HEVC or AV1/);
    assert.equal(h.registry.get('vp9'), undefined);
    assert.deepEqual(h.ended, ['refused']);
    h.clock.advance(500);
    assert.equal(h.socket.destroyed, true, 'closed after the grace');
  });

  test('onMetaData above the maximum resolution is refused before any video', () => {
    const h = publishing('huge', { maxResolution: 720 });
    h.send(new ClientBytes().raw(4, 18, 1, 0, encodeAmf0('@setDataFrame', 'onMetaData', { width: 1920, height: 1080, videocodecid: 7 })).bytes());
    const last = h.statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.Rejected');
    assert.match(last.description, /1920x1080 \(from the metadata\) exceeds the maximum resolution \(RTMP_MAX_RESOLUTION=720p\)/);
    assert.equal(h.pushed.length, 0, 'nothing reached the sink');
  });

  test('aggregate messages are split into their FLV tags', () => {
    const h = publishing('agg');
    const tag = (ts: number) => {
      const body = aacFrame();
      const header = Buffer.alloc(11);
      header[0] = 8;
      header.writeUIntBE(body.length, 1, 3);
      header.writeUIntBE(ts, 4, 3);
      const prev = Buffer.alloc(4);
      prev.writeUInt32BE(11 + body.length);
      return Buffer.concat([header, body, prev]);
    };
    h.send(new ClientBytes().raw(6, 22, 1, 1000, Buffer.concat([tag(500), tag(523), tag(546)])).bytes());
    const entry = h.registry.get('agg')!;
    assert.equal(entry.audioFrames, 3);
    assert.equal(entry.lastTimestamp, 1046);
    assert.deepEqual(h.pushed.map((m) => m.timestamp), [1000, 1023, 1046]);
  });

  test('play is answered with NetStream.Play.Failed (ingest only) and the connection stays usable', () => {
    const h = sessionHarness();
    h.send(Buffer.concat([clientHandshake(), new ClientBytes().command('connect', 1, { app: 'live' }).command('createStream', 2, null).command('play', 0, null, ['x'], 1).bytes()]));
    assert.equal(h.statuses()[0]!.code, 'NetStream.Play.Failed');
    h.send(new ClientBytes().command('publish', 0, null, ['after-play', 'live'], 1).bytes());
    assert.equal(h.statuses().at(-1)!.code, 'NetStream.Publish.Start');
  });
});
