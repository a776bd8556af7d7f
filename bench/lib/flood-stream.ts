/**
 * The bytes the flood sender (bench/lib/flood-sender.ts) writes after the
 * publish, built once: an FLV file's tags as an RTMP chunk stream, every
 * message a type 0 chunk (absolute timestamp) then type 3 continuations at
 * `chunkSize`. Metadata and sequence headers go once (`head`); the coded
 * frames (`body`) are looped, each pass's timestamps moved by `period` more,
 * as `ffmpeg -stream_loop` does. Pure: no sockets.
 */
import { encodeChunks } from '../../src/rtmp/chunk-encoder.ts';
import type { readFlvTags } from './flv-publisher.ts';

const CSID = { 8: 4, 9: 6, 18: 5 } as const;
const MAX_TIMESTAMP = 0xfffffe;

/** The part of the file sent once (metadata, sequence headers) and the part looped. */
export interface Pass {
  bytes: Buffer;
  /** Offsets of each message's 3-byte timestamp in `bytes`, with the file's timestamp. */
  stamps: { at: number; timestamp: number }[];
}

function isSequenceHeader(type: number, body: Buffer): boolean {
  if (type === 18) return true;
  if (type === 9) return (body[0]! & 0x0f) === 7 && body[1] === 0;
  return body[0]! >> 4 === 10 && body[1] === 0;
}

/** Serializes tags as chunks: a type 0 header (absolute timestamp) then type 3 continuations. */
function serialize(tags: ReturnType<typeof readFlvTags>, streamId: number, chunkSize: number): Pass {
  const parts: Buffer[] = [];
  const stamps: Pass['stamps'] = [];
  let at = 0;
  for (const t of tags) {
    const chunk = encodeChunks({ csid: CSID[t.type], typeId: t.type, streamId, timestamp: t.timestamp, payload: t.body }, chunkSize);
    // csid < 64: one-byte basic header, then the 3-byte timestamp.
    stamps.push({ at: at + 1, timestamp: t.timestamp });
    parts.push(chunk);
    at += chunk.length;
  }
  return { bytes: Buffer.concat(parts), stamps };
}

/** Rewrites, in place, every timestamp of `out` (a copy of `pass`) as the file's moved by `offset`. */
export function shift(out: Buffer, pass: Pass, offset: number): Buffer {
  for (const s of pass.stamps) {
    const ts = s.timestamp + offset;
    if (ts > MAX_TIMESTAMP) throw new Error('timestamps past 24 bits: send fewer bytes or a longer file');
    out.writeUIntBE(ts, s.at, 3);
  }
  return out;
}

/** The passes of `tags`: what is sent once, what is looped, and the time one loop adds. */
export function passes(tags: ReturnType<typeof readFlvTags>, streamId: number, chunkSize: number): { head: Buffer; body: Pass; period: number } {
  const head = serialize(tags.filter((t) => isSequenceHeader(t.type, t.body)), streamId, chunkSize);
  const frames = tags.filter((t) => !isSequenceHeader(t.type, t.body));
  const first = frames[0]?.timestamp ?? 0;
  // Each pass follows the last by its length plus one frame (40 ms ≥ a 30 fps frame, an AAC frame).
  return { head: head.bytes, body: serialize(frames, streamId, chunkSize), period: Math.max(...frames.map((t) => t.timestamp)) - first + 40 };
}

