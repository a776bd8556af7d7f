import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tickFor } from '../../src/ingest/deadline-ticker.ts';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { AVC_SEQUENCE_HEADER, avcFrame, ClientBytes, clientHandshake } from '../support/rtmp-bytes.ts';
import { sessionHarness as setup } from '../support/session-harness.ts';

const ping = (t: number) => new ClientBytes().raw(2, 4, 0, 0, Buffer.from(`0006${t.toString(16).padStart(8, '0')}`, 'hex')).bytes();

describe('RtmpSession on a fake clock and socket', () => {
  test('the handshake timeout closes a silent peer within one tick of its deadline, and is counted', () => {
    const { clock, socket, registry } = setup();
    // The harness: handshake 5000 ms, idle 1500 ms, so deadlines are checked every 150 ms.
    assert.equal(tickFor(5000, 1500), 150);
    clock.advance(4999);
    assert.equal(socket.destroyed, false);
    clock.advance(150);
    assert.equal(socket.destroyed, true);
    assert.equal(registry.refusals.get('protocol'), 1);
  });

  test('a publisher that goes silent is cut after the idle timeout, not before; media moves the deadline without a timer', () => {
    const { clock, send, socket, registry } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').raw(6, 9, 1, 0, AVC_SEQUENCE_HEADER).bytes()]));
    for (let i = 1; i <= 20; i++) {
      clock.advance(1000);
      send(new ClientBytes().raw(6, 9, 1, i * 1000, avcFrame(false)).bytes());
    }
    assert.equal(socket.destroyed, false, 'cut while sending');
    clock.advance(1499);
    assert.equal(socket.destroyed, false, 'cut before the idle timeout');
    clock.advance(150);
    assert.equal(socket.destroyed, true);
    assert.equal(registry.refusals.get('idle-timeout'), 1);
  });

  test('media goes straight to the stream sink, counted once in the figures; deleteStream ends the sink', () => {
    const { send, pushed, ended, registry, statuses } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').raw(6, 9, 1, 0, AVC_SEQUENCE_HEADER).raw(6, 9, 1, 40, avcFrame(true)).bytes()]));
    assert.deepEqual(statuses().map((s) => s.code), ['NetStream.Publish.Start']);
    assert.deepEqual(pushed.map((m) => [m.typeId, m.config, m.keyframe]), [[9, true, false], [9, false, true]]);
    const entry = registry.get('cam')!;
    assert.deepEqual([entry.videoFrames, entry.keyFrames, entry.video?.width], [1, 1, 160]);
    send(new ClientBytes().raw(3, 20, 0, 0, encodeAmf0('deleteStream', 4, null, 1)).bytes());
    assert.deepEqual(ended, ['unpublished']);
    assert.equal(registry.get('cam'), undefined);
    assert.deepEqual(statuses().map((s) => s.code), ['NetStream.Publish.Start', 'NetStream.Unpublish.Success']);
  });

  test('after publish then deleteStream, the publish deadline runs again: a peer that only pings is cut', () => {
    const { clock, send, socket, registry } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').bytes()]));
    // Publishing: pings for longer than the deadline do not cut a publisher.
    for (let i = 0; i < 10; i++) {
      clock.advance(300);
      send(ping(i));
    }
    assert.equal(socket.destroyed, false);
    send(new ClientBytes().raw(3, 20, 0, 0, encodeAmf0('deleteStream', 4, null, 1)).bytes());
    const t0 = clock.now();
    for (let i = 0; i < 20 && !socket.destroyed; i++) {
      clock.advance(300);
      if (!socket.destroyed) send(ping(i));
    }
    assert.equal(socket.destroyed, true, 'still open 6 s after deleteStream');
    assert.ok(clock.now() - t0 <= 1500 + 300, `cut ${clock.now() - t0} ms after deleteStream`);
    assert.equal(registry.refusals.get('idle-timeout'), 1);
  });

  test('a refused publish (bad key) reports BadName, registers nothing and stops reading', () => {
    const { send, statuses, socket, ended } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('a b').bytes()]));
    const last = statuses().at(-1)!;
    assert.equal(last.code, 'NetStream.Publish.BadName');
    assert.match(last.description, /stream key may hold only/);
    assert.equal(socket.paused, true);
    assert.deepEqual(ended, []);
  });

  test('a publisher whose socket closes ends its sink once, as disconnected', () => {
    const { send, socket, ended, registry } = setup();
    send(Buffer.concat([clientHandshake(), new ClientBytes().publish('cam').bytes()]));
    socket.destroy();
    assert.deepEqual(ended, ['disconnected']);
    assert.equal(registry.size, 0);
  });
});
