import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeedMessage as MediaMessage } from '../../src/transcode/gop-feed.ts';
import { GopFeed } from '../../src/transcode/gop-feed.ts';

const video = (timestamp: number, keyframe: boolean): MediaMessage => ({
  typeId: 9, timestamp, keyframe, config: false, payload: Buffer.from([keyframe ? 0x17 : 0x27, 1, 0, 0, 0, 0xaa]),
});
const audio = (timestamp: number): MediaMessage => ({ typeId: 8, timestamp, keyframe: false, config: false, payload: Buffer.from([0xaf, 1, 0xbb]) });
const avcConfig: MediaMessage = { typeId: 9, timestamp: 0, keyframe: true, config: true, payload: Buffer.from([0x17, 0, 0, 0, 0, 1, 2]) };
const aacConfig: MediaMessage = { typeId: 8, timestamp: 0, keyframe: false, config: true, payload: Buffer.from([0xaf, 0, 0x12, 0x10]) };

/** Timestamp of an FLV tag (24 bits + extension byte). */
const tagTime = (tag: Buffer) => (tag.readUIntBE(4, 3) | (tag[7]! << 24)) >>> 0;

describe('GopFeed', () => {
  test('start() replays the configuration; media waits for a keyframe and starts at 0', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1000 });
    assert.equal(feed.push(avcConfig, 0), undefined);
    assert.equal(feed.push(aacConfig, 0), undefined);
    const head = feed.start();
    assert.equal(head.subarray(0, 3).toString(), 'FLV');
    assert.equal(head[4], 0x05, 'audio and video flags');
    assert.equal(feed.push(audio(5000), 0), undefined, 'audio before the first keyframe is held');
    assert.equal(feed.push(video(5010, false), 0), undefined, 'inter frame before the first keyframe');
    const key = feed.push(video(5020, true), 0)!;
    assert.equal(tagTime(key), 0);
    assert.equal(tagTime(feed.push(audio(5043), 0)!), 23);
    assert.equal(tagTime(feed.push(audio(5015), 0)!), 0, 'slightly earlier audio clamps to 0');
  });

  test('a run without video starts at the first audio frame; a run without audio holds audio back', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1000 });
    feed.push(aacConfig, 0);
    const head = feed.start({ video: false, audio: true });
    assert.equal(head[4], 0x04, 'audio flag only');
    assert.equal(tagTime(feed.push(audio(7000), 0)!), 0, 'the first audio frame starts the run');
    assert.equal(tagTime(feed.push(audio(7023), 0)!), 23);
    assert.equal(feed.push(video(7030, true), 0), undefined, 'video is not part of this run');
    assert.equal(feed.push(avcConfig, 0), undefined, 'nor its configuration');
    const both = feed.start({ video: true, audio: false });
    assert.equal(both[4], 0x01);
    assert.ok(both.includes(avcConfig.payload), 'the configuration was kept for the next run');
    assert.equal(feed.push(audio(7100), 0), undefined);
    assert.ok(feed.push(video(7110, true), 0));
    assert.equal(feed.push(audio(7120), 0), undefined, 'audio held back in a video-only run');
  });

  test('a backlog drops whole GOPs and resumes at a keyframe once it drains', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1000 });
    feed.push(avcConfig, 0);
    feed.start();
    assert.ok(feed.push(video(0, true), 0));
    assert.ok(feed.push(video(33, false), 0));
    assert.equal(feed.push(video(66, false), 5000), undefined, 'backlog over the limit: drop starts');
    assert.equal(feed.push(audio(70), 0), undefined, 'the rest of the GOP goes, audio too');
    assert.equal(feed.push(video(100, false), 0), undefined);
    assert.equal(feed.push(video(1000, true), 800), undefined, 'backlog not yet under half: this GOP goes too');
    assert.equal(feed.push(video(1033, false), 0), undefined);
    const resumed = feed.push(video(2000, true), 100);
    assert.ok(resumed, 'resumes at the next keyframe');
    assert.equal(tagTime(resumed), 2000, 'timestamps keep their timeline inside one run');
    assert.deepEqual(feed.stats, { droppedGops: 2, droppedFrames: 4, timestampJumps: 0 }, 'video frames only: the dropped audio message is not a frame');
  });

  test('source clocks that jump back or far ahead, or wrap at 2^32 ms, never freeze or leap the output', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1 << 20 });
    feed.push(avcConfig, 0);
    feed.start();
    const times = (list: MediaMessage[]) => list.map((m) => tagTime(feed.push(m, 0)!));
    assert.deepEqual(times([video(50_000, true), video(50_033, false), audio(50_040)]), [0, 33, 40]);
    // The publisher's clock goes back 40 s (an encoder restart behind it): the output goes on.
    assert.deepEqual(times([video(10_000, true), video(10_033, false), video(10_066, false)]), [41, 74, 107]);
    // Forward by an hour: the same.
    assert.deepEqual(times([video(3_610_066, true), video(3_610_099, false)]), [108, 141]);
    // The 32-bit RTMP clock wraps: just another 33 ms step.
    assert.deepEqual(times([video(2 ** 32 - 10, true), video(23, false)]), [142, 175]);
    assert.equal(feed.stats.timestampJumps, 3);
    assert.equal(feed.needsNewRun, false);
  });

  test('a stream older than 2^31 ms keeps its time, and asks for a new run before FLV timestamps run out', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1 << 20 });
    feed.push(avcConfig, 0);
    feed.start();
    feed.push(video(0, true), 0);
    let t = 0;
    let last = 0;
    // 25 days in 2 s steps, the source clock wrapping on the way.
    for (let i = 0; i < (25 * 86_400) / 2 && !feed.needsNewRun; i++) {
      t = (t + 2000) % 2 ** 32;
      last = tagTime(feed.push(video(t, true), 0)!);
    }
    assert.equal(feed.needsNewRun, true);
    assert.ok(last > 2 ** 31 - 11 * 60_000 && last <= 2 ** 31, `the run's clock at ${last} ms`);
    assert.equal(feed.stats.timestampJumps, 0);
  });

  test('a restart rebases to the next keyframe', () => {
    const feed = new GopFeed({ maxBacklogBytes: 1000 });
    feed.push(avcConfig, 0);
    feed.start();
    feed.push(video(0, true), 0);
    feed.start();
    assert.equal(feed.push(video(9000, false), 0), undefined);
    assert.equal(tagTime(feed.push(video(9500, true), 0)!), 0);
  });
});
