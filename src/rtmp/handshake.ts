import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { HandshakeVersionError } from '../errors.ts';

/** Size of C1/S1/C2/S2 (RTMP spec 5.2.3). */
export const HANDSHAKE_SIZE = 1536;
/** The only RTMP version we speak: plain RTMP (RTMP spec 5.2.2). */
export const RTMP_VERSION = 3;

const DIGEST_LENGTH = 32;
const TAIL = Buffer.from(
  'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae',
  'hex',
);
/** Flash Player key (first 30 bytes validate C1's digest). */
const PLAYER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001'), TAIL]);
/** Flash Media Server key (first 36 bytes sign S1; all 68 derive S2's key). */
const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001'), TAIL]);
const PLAYER_KEY_OPEN = PLAYER_KEY.subarray(0, 30);
const SERVER_KEY_OPEN = SERVER_KEY.subarray(0, 36);
/** Version we announce in a digest S1, as FMS 4.5 does. */
const SERVER_VERSION = 0x04050001;

/** The two places a digest can sit in C1/S1 ("scheme 0" and "scheme 1"). */
type Scheme = 0 | 1;

/**
 * Where the 32-byte digest lives inside a 1536-byte C1/S1 for a scheme: the
 * four bytes at `base` summed modulo 728, plus `base + 4`.
 */
export function digestOffset(packet: Buffer, scheme: Scheme): number {
  const base = scheme === 0 ? 8 : 772;
  const sum = packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!;
  return (sum % 728) + base + 4;
}

/** HMAC-SHA256 over the packet with the 32 digest bytes at `offset` left out. */
export function packetDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(packet.subarray(0, offset))
    .update(packet.subarray(offset + DIGEST_LENGTH))
    .digest();
}

/** Finds the client's digest in a "complex" C1, or returns undefined for a plain C1. */
export function findClientDigest(c1: Buffer): { scheme: Scheme; digest: Buffer } | undefined {
  // A plain (RTMP spec 5.2.3) C1 has zeros where the version sits.
  if (c1.readUInt32BE(4) === 0) return undefined;
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(c1, scheme);
    const expected = packetDigest(c1, offset, PLAYER_KEY_OPEN);
    const actual = c1.subarray(offset, offset + DIGEST_LENGTH);
    if (timingSafeEqual(expected, actual)) return { scheme, digest: Buffer.from(actual) };
  }
  return undefined;
}

/**
 * Builds S0+S1+S2 for a C1. A plain C1 gets the spec's echo (RTMP spec 5.2.3/5.2.4);
 * a digest C1 gets an S1 signed with the FMS key and an S2 signed with a key
 * derived from the client's digest, which Flash-derived clients verify.
 */
export function buildServerHandshake(c1: Buffer, nowMs = 0): Buffer {
  const out = Buffer.allocUnsafe(1 + 2 * HANDSHAKE_SIZE);
  out[0] = RTMP_VERSION;
  const s1 = out.subarray(1, 1 + HANDSHAKE_SIZE);
  const s2 = out.subarray(1 + HANDSHAKE_SIZE);
  randomFillSync(s1);
  s1.writeUInt32BE(nowMs >>> 0, 0);
  const client = findClientDigest(c1);
  if (client === undefined) {
    s1.writeUInt32BE(0, 4);
    c1.copy(s2);
    s2.writeUInt32BE(nowMs >>> 0, 4);
    return out;
  }
  s1.writeUInt32BE(SERVER_VERSION, 4);
  const s1Offset = digestOffset(s1, client.scheme);
  packetDigest(s1, s1Offset, SERVER_KEY_OPEN).copy(s1, s1Offset);
  randomFillSync(s2);
  const s2Key = createHmac('sha256', SERVER_KEY).update(client.digest).digest();
  const signedLength = HANDSHAKE_SIZE - DIGEST_LENGTH;
  createHmac('sha256', s2Key).update(s2.subarray(0, signedLength)).digest().copy(s2, signedLength);
  return out;
}

/** Handshake progress states. */
const enum State {
  C0,
  C1,
  C2,
  Done,
}

/** What one `push` produced: bytes to send, and the bytes after C2 once done. */
export interface HandshakeStep {
  reply?: Buffer;
  done: boolean;
  rest?: Buffer;
}

/**
 * Server side of the RTMP handshake (RTMP spec 5.2) as a pure state machine:
 * feed it the bytes read off the socket; it returns S0S1S2 once C0C1 are in,
 * and `done` with any bytes that followed C2 (the first chunks). C0 other than
 * version 3 throws at once, on its first byte.
 */
export class ServerHandshake {
  #state = State.C0;
  #buffer = Buffer.alloc(HANDSHAKE_SIZE);
  #filled = 0;
  readonly #now: () => number;

  constructor(now: () => number = () => 0) {
    this.#now = now;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  push(data: Buffer): HandshakeStep {
    let offset = 0;
    let reply: Buffer | undefined;
    while (offset < data.length && this.#state !== State.Done) {
      if (this.#state === State.C0) {
        const version = data[offset++]!;
        if (version !== RTMP_VERSION) {
          throw new HandshakeVersionError(
            `RTMP handshake: C0 version ${version} (0x${version.toString(16).padStart(2, '0')}) is not 3; not an RTMP client`,
          );
        }
        this.#state = State.C1;
        continue;
      }
      const take = Math.min(HANDSHAKE_SIZE - this.#filled, data.length - offset);
      data.copy(this.#buffer, this.#filled, offset, offset + take);
      this.#filled += take;
      offset += take;
      if (this.#filled < HANDSHAKE_SIZE) break;
      this.#filled = 0;
      if (this.#state === State.C1) {
        reply = buildServerHandshake(this.#buffer, this.#now());
        this.#state = State.C2;
      } else {
        // C2 is not verified: clients differ in what they echo, and nothing depends on it.
        this.#state = State.Done;
      }
    }
    const step: HandshakeStep = { done: this.#state === State.Done };
    if (reply !== undefined) step.reply = reply;
    if (step.done && offset < data.length) step.rest = data.subarray(offset);
    return step;
  }
}
