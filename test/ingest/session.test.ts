import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { command } from '../../src/rtmp/command.ts';
import { userControl, windowAckSize } from '../../src/rtmp/control.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

/** Session behaviour beyond the happy path of a real encoder. */
describe('RTMP session', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ RTMP_MAX_RESOLUTION: '720p' });
  });
  after(() => server?.close());

  const media = (typeId: 8 | 9 | 18, streamId: number, payload: Buffer, timestamp = 0) => ({ csid: 6, typeId, streamId, timestamp, payload });

  test('commands wrapped as AMF3 (type 17) are accepted', async () => {
    const client = await TestRtmpClient.handshake(server.port);
    const body = encodeAmf0('connect', 1, { app: 'live', objectEncoding: 3 });
    client.send({ csid: 3, typeId: 17, streamId: 0, timestamp: 0, payload: Buffer.concat([Buffer.from([0]), body]) });
    await client.waitFor(() => client.commands.some((c) => c.name === '_result'), 'connect result');
    const info = client.commands.find((c) => c.name === '_result')!.args[0] as Record<string, unknown>;
    assert.equal(info['code'], 'NetConnection.Connect.Success');
    assert.equal(info['objectEncoding'], 3);
    // connect announced our window, bandwidth and chunk size first (RTMP spec 7.2.1.1).
    assert.deepEqual(client.messages.slice(0, 3).map((m) => m.typeId), [5, 6, 1]);
    client.destroy();
  });

  test('Ping Request is answered with Ping Response; acknowledgements follow the peer window', async () => {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    client.send(userControl(6, 0x1234));
    await client.waitFor(() => client.messages.some((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 7), 'ping response');
    const pong = client.messages.find((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 7)!;
    assert.equal(pong.payload.readUInt32BE(2), 0x1234);
    client.send(windowAckSize(4096));
    assert.equal((await client.publish(streamId, 'acked')).code, 'NetStream.Publish.Start');
    client.send(media(18, streamId, encodeAmf0('@setDataFrame', 'onMetaData', { width: 320, height: 240 })));
    for (let i = 0; i < 10; i++) client.send(media(8, streamId, Buffer.concat([Buffer.from([0xaf, 0x01]), Buffer.alloc(1000)]), i * 23));
    await client.waitFor(() => client.messages.some((m) => m.typeId === 3), 'acknowledgement');
    const ack = client.messages.find((m) => m.typeId === 3)!;
    assert.ok(ack.payload.readUInt32BE(0) >= 4096, `ack sequence ${ack.payload.readUInt32BE(0)}`);
    assert.equal(server.registry.get('acked')?.metadata['width'], 320);
    assert.equal(server.registry.get('acked')?.audioFrames, 10);
    client.destroy();
  });

  test('Enhanced RTMP HEVC is recognised and refused by name', async () => {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    assert.equal((await client.publish(streamId, 'hevc')).code, 'NetStream.Publish.Start');
    // IsExHeader | keyframe | PacketTypeSequenceStart, FourCC 'hvc1', then a (short) record.
    client.send(media(9, streamId, Buffer.concat([Buffer.from([0x90]), Buffer.from('hvc1'), Buffer.alloc(23)])));
    await client.waitClosed();
    const last = client.statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.Rejected');
    assert.equal(last.status, 400);
    assert.match(last.description, /hevc \(Enhanced RTMP FourCC 'hvc1'\) is not supported; publish H\.264/);
    assert.equal(server.registry.get('hevc'), undefined);
  });

  test('onMetaData above the maximum resolution is refused before any video', async () => {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    assert.equal((await client.publish(streamId, 'huge')).code, 'NetStream.Publish.Start');
    client.send(media(18, streamId, encodeAmf0('@setDataFrame', 'onMetaData', { width: 1920, height: 1080, videocodecid: 7 })));
    await client.waitClosed();
    const last = client.statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.Rejected');
    assert.match(last.description, /1920x1080 \(from the metadata\) exceeds the maximum resolution \(RTMP_MAX_RESOLUTION=720p\)/);
  });

  test('aggregate messages are split into their FLV tags', async () => {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    assert.equal((await client.publish(streamId, 'agg')).code, 'NetStream.Publish.Start');
    const tag = (ts: number) => {
      const body = Buffer.from([0xaf, 0x01, 1, 2, 3]);
      const h = Buffer.alloc(11);
      h[0] = 8;
      h.writeUIntBE(body.length, 1, 3);
      h.writeUIntBE(ts, 4, 3);
      const prev = Buffer.alloc(4);
      prev.writeUInt32BE(11 + body.length);
      return Buffer.concat([h, body, prev]);
    };
    client.send({ csid: 6, typeId: 22, streamId, timestamp: 1000, payload: Buffer.concat([tag(500), tag(523), tag(546)]) });
    await waitUntil(() => server.registry.get('agg')?.audioFrames === 3, 'three audio frames');
    assert.equal(server.registry.get('agg')?.lastTimestamp, 1046);
    client.destroy();
  });

  test('play is answered with NetStream.Play.Failed (ingest only) and the connection stays usable', async () => {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    client.send({ ...command('play', 0, null, ['x']), streamId });
    await client.waitFor(() => client.statuses().length > 0, 'play status');
    assert.equal(client.statuses()[0]!.code, 'NetStream.Play.Failed');
    assert.equal((await client.publish(streamId, 'after-play')).code, 'NetStream.Publish.Start');
    client.destroy();
  });
});
