import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { encodeChunks } from '../../src/rtmp/chunk-encoder.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { startTestServer } from '../support/server.ts';

/**
 * Hostile and broken input: after each, the server is still up and a normal
 * publish works; the connection is closed, with a status where RTMP allows.
 */
describe('hostile input', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ RTMP_HANDSHAKE_TIMEOUT_MS: '500', RTMP_IDLE_TIMEOUT_MS: '1500' });
  });
  after(() => server?.close());

  /** The server still takes a normal publish. */
  async function stillServing(key: string): Promise<void> {
    const { client, streamId } = await TestRtmpClient.connected(server.port);
    assert.equal((await client.publish(streamId, key)).code, 'NetStream.Publish.Start');
    client.destroy();
  }

  async function closesAfter(bytes: Buffer, within = 2000): Promise<number> {
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const t0 = Date.now();
    socket.write(bytes);
    await Promise.race([once(socket, 'close'), sleep(within).then(() => { throw new Error('still open'); })]);
    return Date.now() - t0;
  }

  test('a non-RTMP first byte (HTTP GET, TLS ClientHello) closes at once', async () => {
    assert.ok((await closesAfter(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))) < 300);
    assert.ok((await closesAfter(Buffer.from('160301020001', 'hex'))) < 300);
    await stillServing('after-get');
  });

  test('a handshake trickled then stalled is cut at the handshake timeout', async () => {
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const t0 = Date.now();
    socket.write(Buffer.from([3]));
    for (let i = 0; i < 5; i++) {
      socket.write(Buffer.alloc(10));
      await sleep(50);
    }
    await once(socket, 'close');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 450 && elapsed < 1500, `closed after ${elapsed} ms`);
    assert.ok((server.registry.refusals.get('protocol') ?? 0) >= 1);
  });

  async function refusedAfterConnect(payload: Buffer | ((c: TestRtmpClient) => void)): Promise<TestRtmpClient> {
    const { client } = await TestRtmpClient.connected(server.port);
    if (typeof payload === 'function') payload(client);
    else client.write(payload);
    await client.waitClosed(3000);
    return client;
  }

  test('Set Chunk Size 0 and 2^31: status, then close', async () => {
    for (const size of ['00000000', '80000000']) {
      const c = await refusedAfterConnect(Buffer.from(`02 000000 000004 01 00000000 ${size}`.replace(/ /g, ''), 'hex'));
      const last = c.statuses().at(-1);
      assert.equal(last?.code, 'NetConnection.Call.Failed');
      assert.match(last!.description, /Set Chunk Size/);
    }
    await stillServing('after-chunk-size');
  });

  test('a 0xFFFFFF-byte message with no body is held within the cap and dropped at the idle timeout', async () => {
    const rss0 = process.memoryUsage().rss;
    const clients = await Promise.all(Array.from({ length: 20 }, () => TestRtmpClient.connected(server.port)));
    for (const { client } of clients) client.write(Buffer.from('04000000ffffff0901000000', 'hex'));
    await sleep(200);
    await stillServing('during-big-headers');
    for (const { client } of clients) await client.waitClosed(4000);
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  });

  test('a peer that keeps talking but never publishes is cut at the idle timeout', async () => {
    const { client } = await TestRtmpClient.connected(server.port);
    const t0 = Date.now();
    // A whole, valid command every 300 ms: the idle timer never fires, only the publish deadline can.
    const chatter = setInterval(() => {
      if (!client.closed) void client.call('releaseStream', null, 'never-published').catch(() => {});
    }, 300);
    try {
      await client.waitClosed(4000);
    } finally {
      clearInterval(chatter);
    }
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1200 && elapsed < 3000, `cut after ${elapsed} ms (idle timeout 1500 ms)`);
    await stillServing('after-chatter');
  });

  test('thousands of chunk streams: refused at the cap', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      // 3-byte basic header (csid i+74), type 0, a 200-byte video message left after its first chunk.
      const header = Buffer.from('01 0000 000000 0000c8 09 01000000'.replace(/ /g, ''), 'hex');
      header.writeUInt16LE(i + 10, 1);
      parts.push(header, Buffer.alloc(128));
    }
    const c = await refusedAfterConnect(Buffer.concat(parts));
    assert.match(c.statuses().at(-1)?.description ?? '', /chunk streams/);
    await stillServing('after-chunk-streams');
  });

  test('a type-3 chunk on a new chunk stream', async () => {
    const c = await refusedAfterConnect(Buffer.from('c9aabbcc', 'hex'));
    assert.match(c.statuses().at(-1)?.description ?? '', /no previous header/);
  });

  test('truncated AMF in a command', async () => {
    const body = encodeAmf0('createStream', 2, null).subarray(0, 9);
    const c = await refusedAfterConnect(encodeChunks({ csid: 3, typeId: 20, streamId: 0, timestamp: 0, payload: body }, 4096));
    assert.equal(c.statuses().at(-1)?.code, 'NetConnection.Call.Failed');
  });

  test('5,000-deep AMF nesting', async () => {
    const nested = Buffer.alloc(5000 * 4);
    for (let i = 0; i < 5000; i++) nested.set([0x03, 0x00, 0x01, 0x61], i * 4);
    const body = Buffer.concat([encodeAmf0('createStream', 2), nested]);
    const c = await refusedAfterConnect((client) => {
      client.send({ csid: 3, typeId: 20, streamId: 0, timestamp: 0, payload: body });
    });
    assert.match(c.statuses().at(-1)?.description ?? '', /depth|nest/i);
    await stillServing('after-deep-amf');
  });

  for (const [what, name] of [['false', false], ['a number', 7], ['null', null], ['../', '../x'], ['%2e%2e', '%2e%2e'], ['NUL', 'a\u0000b'], ['300 bytes', 'k'.repeat(300)]] as const) {
    test(`stream name ${what}: BadName, then close`, async () => {
      const { client, streamId } = await TestRtmpClient.connected(server.port);
      const status = await client.publish(streamId, name);
      assert.equal(status.code, 'NetStream.Publish.BadName');
      assert.equal(status.level, 'error');
      await client.waitClosed();
    });
  }

  test('publish before connect: status, then close', async () => {
    const client = await TestRtmpClient.handshake(server.port);
    client.send(encodeChunksMessage('publish', 'early'));
    await client.waitClosed();
    assert.equal(client.statuses().at(-1)?.code, 'NetConnection.Call.Failed');
    assert.match(client.statuses().at(-1)!.description, /before connect/);
  });

  test('the server is still serving after all of the above', async () => {
    await stillServing('survivor');
    assert.equal(server.rtmp.listening, true);
  });
});

function encodeChunksMessage(name: string, key: string) {
  return { csid: 3, typeId: 20, streamId: 1, timestamp: 0, payload: encodeAmf0(name, 0, null, key, 'live') };
}
