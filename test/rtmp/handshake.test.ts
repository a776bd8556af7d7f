import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  buildServerHandshake,
  digestOffset,
  HANDSHAKE_SIZE,
  packetDigest,
  ServerHandshake,
} from '../../src/rtmp/handshake.ts';

const TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
const PLAYER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001'), TAIL]);
const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001'), TAIL]);

/** A C1 as Flash-derived clients (ffmpeg, librtmp) build it: version set, digest at scheme 0 or 1. */
function digestC1(scheme: 0 | 1): { c1: Buffer; digest: Buffer } {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0);
  c1.writeUInt32BE(0x80000702, 4);
  const offset = digestOffset(c1, scheme);
  const digest = packetDigest(c1, offset, PLAYER_KEY.subarray(0, 30));
  digest.copy(c1, offset);
  return { c1, digest };
}

describe('RTMP handshake (RTMP spec 5.2)', () => {
  test('plain C1: S0 is 3, S2 echoes C1 apart from time2', () => {
    const c1 = randomBytes(HANDSHAKE_SIZE);
    c1.writeUInt32BE(1234, 0);
    c1.writeUInt32BE(0, 4);
    const out = buildServerHandshake(c1, 99);
    assert.equal(out.length, 1 + 2 * HANDSHAKE_SIZE);
    assert.equal(out[0], 3);
    const s2 = out.subarray(1 + HANDSHAKE_SIZE);
    assert.equal(s2.readUInt32BE(0), 1234);
    assert.deepEqual(s2.subarray(8), c1.subarray(8));
    assert.equal(out.readUInt32BE(1 + 4), 0, 'plain S1 has zero version');
  });

  for (const scheme of [0, 1] as const) {
    test(`digest C1 (scheme ${scheme}): S1 digest and S2 signature verify as a client checks them`, () => {
      const { c1, digest } = digestC1(scheme);
      const out = buildServerHandshake(c1);
      const s1 = out.subarray(1, 1 + HANDSHAKE_SIZE);
      const s2 = out.subarray(1 + HANDSHAKE_SIZE);
      assert.notEqual(s1.readUInt32BE(4), 0);
      const offset = digestOffset(s1, scheme);
      assert.deepEqual(s1.subarray(offset, offset + 32), packetDigest(s1, offset, SERVER_KEY.subarray(0, 36)));
      const key = createHmac('sha256', SERVER_KEY).update(digest).digest();
      const signature = createHmac('sha256', key).update(s2.subarray(0, HANDSHAKE_SIZE - 32)).digest();
      assert.deepEqual(s2.subarray(HANDSHAKE_SIZE - 32), signature);
    });
  }

  test('a C1 with a version but no valid digest falls back to the plain echo', () => {
    const c1 = randomBytes(HANDSHAKE_SIZE);
    c1.writeUInt32BE(0x80000702, 4);
    const s2 = buildServerHandshake(c1).subarray(1 + HANDSHAKE_SIZE);
    assert.deepEqual(s2.subarray(8), c1.subarray(8));
  });

  test('state machine: reply after C0C1, done after C2, trailing bytes returned, any split', () => {
    const { c1 } = digestC1(0);
    const c2 = randomBytes(HANDSHAKE_SIZE);
    const after = Buffer.from('0203', 'hex');
    const input = Buffer.concat([Buffer.from([3]), c1, c2, after]);
    for (const cut of [1, 2, 1000, 1537, 1538, 3073, 3074]) {
      const hs = new ServerHandshake();
      const a = hs.push(input.subarray(0, cut));
      const b = hs.push(input.subarray(cut));
      const reply = a.reply ?? b.reply;
      assert.ok(reply && reply.length === 3073, `reply at cut ${cut}`);
      assert.equal(b.done, true);
      assert.deepEqual(Buffer.concat([a.rest ?? Buffer.alloc(0), b.rest ?? Buffer.alloc(0)]), after);
    }
    const hs = new ServerHandshake();
    let done = false;
    let replies = 0;
    for (const byte of input.subarray(0, 1 + 2 * HANDSHAKE_SIZE)) {
      const step = hs.push(Buffer.from([byte]));
      if (step.reply) replies++;
      done = step.done;
    }
    assert.equal(replies, 1);
    assert.equal(done, true);
  });

  test('C0 other than 3 is refused on the first byte: TLS ClientHello, HTTP GET, RTMPE', () => {
    for (const first of [0x16, 0x47, 0x06, 0x00]) {
      assert.throws(() => new ServerHandshake().push(Buffer.from([first, 1, 2, 3])), { code: 'ERR_RTMP_HANDSHAKE_VERSION' });
    }
    assert.throws(() => new ServerHandshake().push(Buffer.from('GET / HTTP/1.1\r\n')), /not 3/);
  });
});
