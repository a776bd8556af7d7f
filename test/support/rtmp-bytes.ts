import { readFileSync } from 'node:fs';
import { encodeAmf0, type AmfValue } from '../../src/rtmp/amf0.ts';
import { ChunkDecoder, type RawMessage } from '../../src/rtmp/chunk-decoder.ts';
import { ChunkEncoder } from '../../src/rtmp/chunk-encoder.ts';
import { decodeCommand, type Command } from '../../src/rtmp/command.ts';
import { HANDSHAKE_SIZE } from '../../src/rtmp/handshake.ts';

/** C0 + a plain C1 (zero version: no digest) + C2, deterministic. */
export function clientHandshake(): Buffer {
  const c1 = Buffer.alloc(HANDSHAKE_SIZE);
  for (let i = 8; i < HANDSHAKE_SIZE; i++) c1[i] = (i * 7) & 0xff;
  return Buffer.concat([Buffer.from([3]), c1, Buffer.alloc(HANDSHAKE_SIZE, 0x5a)]);
}

/** Builds what a publisher sends after the handshake, message by message. */
export class ClientBytes {
  readonly #encoder = new ChunkEncoder();
  readonly #parts: Buffer[] = [];

  command(name: string, transactionId: number, commandObject: AmfValue, args: AmfValue[] = [], streamId = 0): this {
    return this.raw(3, 20, streamId, 0, encodeAmf0(name, transactionId, commandObject, ...args));
  }

  raw(csid: number, typeId: number, streamId: number, timestamp: number, payload: Buffer): this {
    this.#parts.push(this.#encoder.encode({ csid, typeId, streamId, timestamp, payload }));
    return this;
  }

  /** connect to `app`, createStream (stream 1), publish `key` on it. */
  publish(key: string, app = 'live'): this {
    return this.command('connect', 1, { app, tcUrl: `rtmp://127.0.0.1:1935/${app}` })
      .command('createStream', 2, null)
      .command('publish', 0, null, [key, 'live'], 1);
  }

  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

const capture = readFileSync(new URL('../robustness/fixtures/ffmpeg-publish.c2s.bin', import.meta.url));
const captured = new ChunkDecoder().push(capture.subarray(1 + 2 * HANDSHAKE_SIZE));
/** The H.264 sequence header ffmpeg sent (320x240), as an FLV video tag body. */
export const AVC_SEQUENCE_HEADER: Buffer = captured.find((m) => m.typeId === 9 && m.payload[1] === 0)!.payload;
/** AAC-LC 44.1 kHz stereo AudioSpecificConfig as an FLV audio tag body. */
export const AAC_SEQUENCE_HEADER = Buffer.from('af001210', 'hex');
/** An H.264 coded frame (keyframe or not) as an FLV video tag body. */
export const avcFrame = (key: boolean) => Buffer.from(`${key ? '17' : '27'}01000000000000056588840021`, 'hex');
/** An AAC raw frame as an FLV audio tag body. */
export const aacFrame = () => Buffer.from('af01de0400', 'hex');

/** The server's bytes after S0S1S2, as messages; commands decoded. */
export function serverMessages(out: Buffer): { messages: RawMessage[]; commands: Command[] } {
  const messages = new ChunkDecoder().push(out.subarray(1 + 2 * HANDSHAKE_SIZE));
  const commands = messages.filter((m) => m.typeId === 20).map((m) => decodeCommand(20, m.payload));
  return { messages, commands };
}
