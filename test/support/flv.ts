import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PUBLISHER_FFMPEG } from './ffmpeg.ts';
import type { TestRtmpClient } from './rtmp-client.ts';

const execFileAsync = promisify(execFile);

/** One FLV tag: its type (8 audio, 9 video, 18 data), timestamp (ms) and body. */
export interface FlvTag {
  type: number;
  time: number;
  body: Buffer;
}

/** The tags of an FLV file (FLV spec E.3), header skipped. */
export function flvTags(flv: Buffer): FlvTag[] {
  const tags: FlvTag[] = [];
  for (let at = 13; at + 11 <= flv.length; ) {
    const size = flv.readUIntBE(at + 1, 3);
    tags.push({ type: flv[at]!, time: (flv.readUIntBE(at + 4, 3) | (flv[at + 7]! << 24)) >>> 0, body: flv.subarray(at + 11, at + 11 + size) });
    at += 11 + size + 4;
  }
  return tags;
}

/**
 * `seconds` of synthetic H.264 (testsrc2, 1 s GOPs) + AAC (sine) as FLV tags,
 * encoded as fast as ffmpeg-static goes; `extra` goes before the output.
 */
export async function synthesizeFlv(o: { width?: number; height?: number; seconds: number; extra?: string[] }): Promise<FlvTag[]> {
  const { width = 320, height = 240 } = o;
  const flv = (
    await execFileAsync(
      PUBLISHER_FFMPEG,
      ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-f', 'lavfi', '-i', 'sine', '-t', String(o.seconds),
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', ...(o.extra ?? []), '-f', 'flv', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 64 << 20 },
    )
  ).stdout;
  return flvTags(flv);
}

/** Sends one tag as the RTMP message it stands for (audio on chunk stream 4, video 6, data 5). */
export function sendTag(client: TestRtmpClient, streamId: number, tag: FlvTag, time = tag.time): void {
  client.send({ csid: tag.type === 9 ? 6 : tag.type === 8 ? 4 : 5, typeId: tag.type as 8 | 9 | 18, streamId, timestamp: time, payload: tag.body });
}

/** Sends tags paced at real time by their timestamps (`speed` > 1: faster). */
export async function sendPaced(client: TestRtmpClient, streamId: number, tags: readonly FlvTag[], speed = 1): Promise<void> {
  const start = Date.now();
  const first = tags[0]?.time ?? 0;
  for (const tag of tags) {
    const due = start + (tag.time - first) / speed;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sendTag(client, streamId, tag);
  }
}
