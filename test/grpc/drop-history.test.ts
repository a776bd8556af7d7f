import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DropHistory, type DropCounters } from '../../src/grpc/drop-history.ts';

const T0 = Date.UTC(2026, 11, 3, 21, 0, 0);
const s = (key: string, droppedGops: number, droppedFrames: number): DropCounters => ({ key, transcode: { droppedGops, droppedFrames } });
const at = (seconds: number) => T0 + seconds * 1000;

describe('DropHistory', () => {
  test('one run of drops: ongoing while they come, then kept as recent for 5 min after the last one', () => {
    const h = new DropHistory();
    assert.deepEqual(h.update([s('cam', 0, 0)], at(0)), { ongoing: [], recent: [] });
    assert.deepEqual(h.update([s('cam', 2, 60)], at(1)).ongoing, [{ key: 'cam', gops: 2, frames: 60, from: at(1), to: at(1) }]);
    h.update([s('cam', 2, 60)], at(5));
    assert.deepEqual(h.update([s('cam', 6, 180)], at(9)).ongoing, [{ key: 'cam', gops: 6, frames: 180, from: at(1), to: at(9) }], 'drops 8 s apart are one run');
    assert.equal(h.update([s('cam', 6, 180)], at(18.9)).ongoing.length, 1, 'still going 9.9 s after the last drop');
    const over = h.update([s('cam', 6, 180)], at(19));
    assert.deepEqual(over, { ongoing: [], recent: [{ key: 'cam', gops: 6, frames: 180, from: at(1), to: at(9) }] });
    assert.equal(h.update([s('cam', 6, 180)], at(9 + 299.9)).recent.length, 1);
    assert.deepEqual(h.update([s('cam', 6, 180)], at(9 + 300)), { ongoing: [], recent: [] });
  });

  test('a new run after a quiet spell is its own; the newest is listed first; ended streams keep theirs', () => {
    const h = new DropHistory({ quietMs: 2000, keepMs: 60_000 });
    h.update([s('a', 0, 0), s('b', 0, 0)], at(0));
    h.update([s('a', 1, 30), s('b', 0, 0)], at(1));
    h.update([s('a', 1, 30), s('b', 3, 61)], at(4));
    const r = h.update([], at(10)); // both streams ended
    assert.deepEqual(r.recent.map((e) => [e.key, e.gops, e.frames]), [['b', 3, 61], ['a', 1, 30]]);
    h.update([s('a', 0, 0)], at(20)); // published again: new counters from 0
    h.update([s('a', 2, 40)], at(21));
    const again = h.update([s('a', 2, 40)], at(30));
    assert.deepEqual(again.recent.map((e) => [e.key, e.gops, e.frames, (e.from - T0) / 1000]), [['a', 2, 40, 21], ['b', 3, 61, 4], ['a', 1, 30, 1]]);
  });

  test('frames of a GOP being dropped arrive after its count: the run goes on and takes them', () => {
    const h = new DropHistory();
    h.update([s('cam', 1, 1)], at(0));
    h.update([s('cam', 1, 20)], at(1));
    h.update([s('cam', 1, 30)], at(9));
    assert.deepEqual(h.update([s('cam', 1, 30)], at(18.9)).ongoing, [{ key: 'cam', gops: 1, frames: 30, from: at(0), to: at(9) }]);
    assert.deepEqual(h.update([s('cam', 1, 30)], at(19)).recent, [{ key: 'cam', gops: 1, frames: 30, from: at(0), to: at(9) }]);
  });

  test('streams that are not transcoded, and counters that fall (a new publish), start no run', () => {
    const h = new DropHistory();
    assert.deepEqual(h.update([{ key: 'ingest', transcode: undefined }], at(0)), { ongoing: [], recent: [] });
    h.update([s('x', 5, 150)], at(1));
    const r = h.update([s('x', 0, 0)], at(2));
    assert.deepEqual(r.ongoing.map((e) => e.gops), [5], 'the fall adds nothing');
  });
});
