import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readBoxes } from '../../../src/package/mp4/boxes.ts';
import { parseFragment } from '../../../src/package/mp4/fragment.ts';
import { Mp4Splitter, type FragmentItem, type InitItem, type SplitItem } from '../../../src/package/mp4/splitter.ts';
import { box, fullBox, rebaseFragment, u32 } from '../../../src/package/mp4/write.ts';
import { FFMPEGS, FFPROBE, frameHashes, makeCmaf, probe, requireBinary } from './support.ts';

const PROFILE_NAMES: Readonly<Record<number, readonly string[]>> = { 66: ['Baseline', 'Constrained Baseline'], 77: ['Main'], 100: ['High'] };

function split(bytes: Buffer): { init: InitItem; fragments: FragmentItem[] } {
  const s = new Mp4Splitter();
  const items: SplitItem[] = [...s.push(bytes), ...s.end()];
  const [init, ...rest] = items;
  assert.equal(init?.kind, 'init');
  assert.ok(rest.every((i) => i.kind === 'fragment'));
  return { init: init as InitItem, fragments: rest as FragmentItem[] };
}

/** The same fragment with its tfdt written as version 0 (32-bit) and the trun data_offset pulled back by the 4 bytes saved. */
function downgradeTfdt(fragment: Buffer): Buffer {
  const [moof] = readBoxes(fragment, 0, fragment.readUInt32BE(0));
  const kids = readBoxes(fragment, 8, moof!.size).map((k) => {
    const bytes = fragment.subarray(k.start, k.start + k.size);
    if (k.type !== 'traf') return bytes;
    const trafKids = readBoxes(fragment, k.start + 8, k.start + k.size).map((t) => {
      const tb = fragment.subarray(t.start, t.start + t.size);
      if (t.type === 'tfdt') return fullBox('tfdt', 0, 0, u32(Number(tb.readBigUInt64BE(12))));
      if (t.type === 'trun') {
        const copy = Buffer.from(tb);
        copy.writeInt32BE(copy.readInt32BE(16) - 4, 16);
        return copy;
      }
      return tb;
    });
    return box('traf', ...trafKids);
  });
  return Buffer.concat([box('moof', ...kids), fragment.subarray(moof!.size)]);
}

for (const ff of FFMPEGS) {
  for (const kind of ['video', 'audio'] as const) {
    describe(`${ff.name}: ${kind}-only CMAF pipe`, () => {
      let bytes: Buffer;
      let parts: { init: InitItem; fragments: FragmentItem[] };

      before(async () => {
        requireBinary(ff.path);
        requireBinary(FFPROBE);
        bytes = await makeCmaf(ff.path, kind);
        parts = split(bytes);
      });

      it('init segment: codec string, sizes and rates agree with ffprobe', async () => {
        const { streams } = await probe(bytes);
        assert.equal(streams.length, 1);
        const st = streams[0]!;
        const [track] = parts.init.info.tracks;
        assert.ok(track);
        assert.equal(parts.init.info.tracks.length, 1);
        assert.equal(track.trackId, 1);
        assert.equal(st.time_base, `1/${track.timescale}`);
        assert.equal(st.codec_tag_string, track.sampleEntry);
        assert.equal(st.extradata_size, track.decoderConfig?.length);
        if (kind === 'video') {
          assert.equal(track.handler, 'vide');
          const m = /^avc1\.([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/.exec(track.codec ?? '');
          assert.ok(m, `codec ${track.codec}`);
          assert.ok(PROFILE_NAMES[parseInt(m[1]!, 16)]?.includes(st.profile ?? ''), `${track.codec} vs profile ${st.profile}`);
          assert.equal(parseInt(m[3]!, 16), st.level);
          assert.equal(track.width, st.width);
          assert.equal(track.height, st.height);
          assert.deepEqual([track.width, track.height], [320, 240]);
        } else {
          assert.equal(track.handler, 'soun');
          assert.equal(track.codec, 'mp4a.40.2');
          assert.equal(st.profile, 'LC');
          assert.equal(String(track.sampleRate), st.sample_rate);
          assert.equal(track.channels, st.channels);
          assert.equal(track.timescale, 48000);
        }
      });

      it('fragments: sample counts, durations, sizes, keyframe flags and timestamps agree with ffprobe', async () => {
        const { packets } = await probe(bytes);
        const ours = parts.fragments.flatMap((f) => {
          const [t] = f.info.tracks;
          assert.ok(t && f.info.tracks.length === 1);
          assert.equal(t.sampleCount, t.samples.length);
          assert.equal(t.duration, t.samples.reduce((n, s) => n + s.duration, 0));
          assert.equal(t.firstSampleIsSync, t.samples[0]!.isSync);
          let dts = t.baseDecodeTime!;
          return t.samples.map((s) => {
            const row = { dts, pts: dts + s.compositionOffset, duration: s.duration, size: s.size, key: s.isSync };
            dts += s.duration;
            return row;
          });
        });
        // ffmpeg's mov demuxer presents negative composition offsets shifted by the largest of them
        // (its dts_shift), and takes a packet's duration from the next dts: compare in those terms.
        const ptsShift = Math.max(0, ...ours.map((o) => o.dts - o.pts));
        const theirs = packets.map((p, i) => ({
          dts: p.dts,
          pts: p.pts - ptsShift,
          // The last AAC frame's trun duration is trimmed to the input's end (768 of 1024); ffprobe shows the frame's.
          duration: i + 1 < packets.length ? packets[i + 1]!.dts - p.dts : Math.min(p.duration, ours.at(-1)!.duration),
          size: p.size,
          key: p.flags.startsWith('K'),
        }));
        assert.equal(ours.length, theirs.length);
        assert.deepEqual(ours, theirs);
        // Fragments are sequenced from 1 and contiguous in decode time, the first starting at 0.
        assert.equal(parts.fragments[0]!.info.tracks[0]!.baseDecodeTime, 0);
        parts.fragments.forEach((f, i) => {
          assert.equal(f.info.sequenceNumber, i + 1);
          if (i > 0) {
            const prev = parts.fragments[i - 1]!.info.tracks[0]!;
            assert.equal(f.info.tracks[0]!.baseDecodeTime, prev.baseDecodeTime! + prev.duration);
          }
        });
        if (kind === 'audio') assert.ok(ours.every((s) => s.key));
        else assert.ok(parts.fragments.some((f) => f.info.tracks[0]!.firstSampleIsSync));
      });

      it('rebaseFragment: init + rebased fragments play from the new time with the same frames', async () => {
        const shift = 90_000_000;
        const timescale = parts.init.info.tracks[0]!.timescale;
        const rebased = parts.fragments.map((f, i) => rebaseFragment(f.bytes, shift + f.info.tracks[0]!.baseDecodeTime!, 1000 + i));
        rebased.forEach((r, i) => {
          const info = parseFragment(r);
          assert.equal(info.sequenceNumber, 1000 + i);
          assert.equal(info.tracks[0]!.baseDecodeTime, shift + parts.fragments[i]!.info.tracks[0]!.baseDecodeTime!);
          assert.equal(info.tracks[0]!.tfdtVersion, 1);
        });
        const out = Buffer.concat([parts.init.bytes, ...rebased]);
        const { packets } = await probe(out);
        assert.equal(packets.length, parts.fragments.reduce((n, f) => n + f.info.tracks[0]!.sampleCount, 0));
        assert.ok(Math.abs(Number(packets[0]!.dts_time) - shift / timescale) < 1e-5, `first dts_time ${packets[0]!.dts_time}`);
        assert.deepEqual(await frameHashes('/usr/bin/ffmpeg', out), await frameHashes('/usr/bin/ffmpeg', bytes));
      });

      it('rebaseFragment grows a version 0 tfdt to version 1 and moves the trun data_offset with the moof', async () => {
        const downgraded = parts.fragments.map((f) => downgradeTfdt(f.bytes));
        downgraded.forEach((d, i) => {
          const info = parseFragment(d);
          assert.equal(info.tracks[0]!.tfdtVersion, 0);
          assert.deepEqual(info.tracks[0]!.samples, parts.fragments[i]!.info.tracks[0]!.samples.map((s) => ({ ...s, offset: s.offset! - 4 })));
        });
        // Back to 64 bits with the original times: byte for byte what ffmpeg wrote.
        downgraded.forEach((d, i) => {
          const f = parts.fragments[i]!;
          assert.ok(rebaseFragment(d, f.info.tracks[0]!.baseDecodeTime!, f.info.sequenceNumber).equals(f.bytes), `fragment ${i}`);
        });
        const out = Buffer.concat([parts.init.bytes, ...downgraded.map((d, i) => rebaseFragment(d, 48_000 * 3600 + parts.fragments[i]!.info.tracks[0]!.baseDecodeTime!))]);
        const { packets } = await probe(out);
        assert.ok(packets.length > 0);
        assert.deepEqual(await frameHashes('/usr/bin/ffmpeg', out), await frameHashes('/usr/bin/ffmpeg', bytes));
      });
    });
  }
}
