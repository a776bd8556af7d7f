/**
 * An in-process RTMP publisher that sends an FLV file's tags at their own pace
 * (like `ffmpeg -re -c copy`), built on the test suite's RTMP client. It knows
 * the exact moment the server accepted the publish (NetStream.Publish.Start),
 * which an ffmpeg child cannot tell: that moment is when figure 3's clock starts.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestRtmpClient } from '../../test/support/rtmp-client.ts';

interface FlvTag {
  type: 8 | 9 | 18;
  timestamp: number;
  body: Buffer;
}

/** The tags of an FLV file (FLV spec E.3/E.4.1), in file order. */
export function readFlvTags(path: string): FlvTag[] {
  const flv = readFileSync(path);
  const tags: FlvTag[] = [];
  let off = flv.readUInt32BE(5) + 4;
  while (off + 11 <= flv.length) {
    const type = flv[off]!;
    const size = flv.readUIntBE(off + 1, 3);
    const timestamp = (flv.readUIntBE(off + 4, 3) | (flv[off + 7]! << 24)) >>> 0;
    if (type === 8 || type === 9 || type === 18) tags.push({ type, timestamp, body: flv.subarray(off + 11, off + 11 + size) });
    off += 11 + size + 4;
  }
  return tags;
}

/** A running paced publish. */
export interface PacedPublish {
  /** performance.now() when the server answered NetStream.Publish.Start. */
  publishedAt: number;
  stop(): void;
}

const CSID = { 8: 4, 9: 6, 18: 5 } as const;

/** Connects, publishes `key` on the `live` app, then sends `tags` in real time until stopped or done. */
export async function publishPaced(port: number, key: string, tags: readonly FlvTag[]): Promise<PacedPublish> {
  const { client, streamId } = await TestRtmpClient.connected(port);
  client.setChunkSize(4096);
  const status = await client.publish(streamId, key);
  const publishedAt = performance.now();
  if (status.code !== 'NetStream.Publish.Start') throw new Error(`publish answered ${status.code}: ${status.description}`);
  let stopped = false;
  void (async () => {
    const base = tags[0]?.timestamp ?? 0;
    let i = 0;
    while (!stopped && i < tags.length && !client.closed) {
      const elapsed = performance.now() - publishedAt;
      while (i < tags.length && tags[i]!.timestamp - base <= elapsed) {
        const t = tags[i++]!;
        client.send({ csid: CSID[t.type], typeId: t.type, streamId, timestamp: t.timestamp - base, payload: t.body });
      }
      await sleep(5);
    }
  })();
  return {
    publishedAt,
    stop() {
      stopped = true;
      client.destroy();
    },
  };
}
