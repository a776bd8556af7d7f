import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { ffmpegPublish, type Publisher } from '../support/ffmpeg.ts';
import { TestRtmpClient } from '../support/rtmp-client.ts';
import { serverPool, startTestServer } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

type Server = Awaited<ReturnType<typeof startTestServer>>;

/** Starts a legitimate ffmpeg stream and waits until it is flowing. */
async function legitStream(server: Server, key: string, seconds = 8): Promise<Publisher> {
  const pub = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/${key}`, { seconds, videoKbps: 150 });
  await waitUntil(() => (server.registry.get(key)?.videoFrames ?? 0) > 5, `${key} flowing (${pub.stderr()})`);
  return pub;
}

/** The legitimate stream kept receiving data across `during` and finished cleanly. */
async function assertUndisturbed(server: Server, key: string, pub: Publisher, during: () => Promise<void>): Promise<void> {
  const before = server.registry.get(key)!.bytesIn;
  await during();
  await sleep(700);
  const entry = server.registry.get(key);
  assert.ok(entry, `${key} is still published`);
  assert.ok(entry.bytesIn > before, `${key} kept flowing (${before} → ${entry.bytesIn} bytes)`);
  pub.kill('SIGINT');
  await pub.exited;
}

describe('limits and refusals, seen from the publisher', () => {
  const server = serverPool();

  test('RTMP_MAX_STREAMS: one publish too many is refused with 403, the first keeps flowing', async () => {
    const s = await server({ RTMP_MAX_STREAMS: '1' });
    const seen: { reason: string; key?: string; peer: string }[] = [];
    s.registry.on('refused', (reason, detail) => seen.push({ reason, ...detail }));
    const pub = await legitStream(s, 'first');
    await assertUndisturbed(s, 'first', pub, async () => {
      const { client, streamId } = await TestRtmpClient.connected(s.port);
      const status = await client.publish(streamId, 'second');
      assert.equal(status.level, 'error');
      assert.equal(status.code, 'NetStream.Publish.Rejected');
      assert.equal(status.status, 403);
      assert.match(status.description, /RTMP_MAX_STREAMS=1/);
      await client.waitClosed();
      assert.equal(s.registry.refusals.get('max-streams'), 1);
      assert.equal(seen[0]?.reason, 'max-streams');
      assert.equal(seen[0]?.key, 'second', 'the refusal names the key');
      assert.match(seen[0]?.peer ?? '', /^127\.0\.0\.1:\d+$/);
    });
  });

  test('a key already publishing is refused with NetStream.Publish.BadName', async () => {
    const s = await server({});
    const pub = await legitStream(s, 'taken');
    await assertUndisturbed(s, 'taken', pub, async () => {
      const { client, streamId } = await TestRtmpClient.connected(s.port);
      const status = await client.publish(streamId, 'taken');
      assert.equal(status.code, 'NetStream.Publish.BadName');
      assert.match(status.description, /already being published/);
      await client.waitClosed();
    });
  });

  test('RTMP_MAX_RESOLUTION: a larger source is refused at its metadata / sequence header', async () => {
    const s = await server({ RTMP_MAX_RESOLUTION: '240p' });
    const pub = await legitStream(s, 'small'); // 320x240 fits
    await assertUndisturbed(s, 'small', pub, async () => {
      const big = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/big`, { width: 640, height: 360, seconds: 5 });
      const code = await big.exited;
      assert.notEqual(code, 0);
      assert.match(big.stderr(), /640x360.*exceeds the maximum resolution \(RTMP_MAX_RESOLUTION=240p\)/);
      assert.equal(s.registry.get('big'), undefined);
      assert.equal(s.registry.refusals.get('max-resolution'), 1);
    });
  });

  test('RTMP_MAX_BITRATE: sustained excess disconnects the publisher, a burst does not', async () => {
    const s = await server({ RTMP_MAX_BITRATE: '1', RTMP_BITRATE_WINDOW_MS: '2000' });
    const pub = await legitStream(s, 'modest', 12);
    await assertUndisturbed(s, 'modest', pub, async () => {
      const t0 = Date.now();
      const heavy = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/heavy`, {
        seconds: 10,
        videoKbps: 4000,
        extra: ['-vf', 'noise=alls=80:allf=t'],
      });
      const code = await heavy.exited;
      const elapsed = Date.now() - t0;
      assert.notEqual(code, 0);
      assert.match(heavy.stderr(), /RTMP_MAX_BITRATE=1 Mbps/);
      assert.ok(elapsed >= 2000 && elapsed < 8000, `disconnected after ${elapsed} ms`);
      assert.equal(s.registry.refusals.get('max-bitrate'), 1);
    });
  });

  test('a half-open publisher is dropped after the idle timeout and its key frees', async () => {
    const s = await server({ RTMP_IDLE_TIMEOUT_MS: '1000' });
    const { client: stale, streamId } = await TestRtmpClient.connected(s.port);
    assert.equal((await stale.publish(streamId, 'ghost')).code, 'NetStream.Publish.Start');
    // It now sends nothing, as a publisher whose network vanished.
    const second = await TestRtmpClient.connected(s.port);
    assert.equal((await second.client.publish(second.streamId, 'ghost')).code, 'NetStream.Publish.BadName');
    await stale.waitClosed(3000);
    const third = await TestRtmpClient.connected(s.port);
    assert.equal((await third.client.publish(third.streamId, 'ghost')).code, 'NetStream.Publish.Start');
    assert.ok(s.registry.get('ghost'));
    third.client.destroy();
  });

  test('connect to another application is refused with NetConnection.Connect.Rejected', async () => {
    const s = await server({});
    const client = await TestRtmpClient.handshake(s.port);
    const result = await client.call('connect', { app: 'other', tcUrl: `rtmp://127.0.0.1:${s.port}/other` });
    assert.equal(result.name, '_error');
    const info = result.args[0] as { code: string; description: string };
    assert.equal(info.code, 'NetConnection.Connect.Rejected');
    assert.match(info.description, /'other' is not served here/);
    await client.waitClosed();
  });

  test('unpublish frees the key at once', async () => {
    const s = await server({});
    const a = await TestRtmpClient.connected(s.port);
    assert.equal((await a.client.publish(a.streamId, 'reuse')).code, 'NetStream.Publish.Start');
    a.client.send({ csid: 3, typeId: 20, streamId: 0, timestamp: 0, payload: (await import('../../src/rtmp/amf0.ts')).encodeAmf0('deleteStream', 5, null, a.streamId) });
    await waitUntil(() => s.registry.get('reuse') === undefined, 'reuse unpublished');
    const b = await TestRtmpClient.connected(s.port);
    assert.equal((await b.client.publish(b.streamId, 'reuse')).code, 'NetStream.Publish.Start');
    a.client.destroy();
    b.client.destroy();
  });
});
