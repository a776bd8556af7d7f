import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeAmf0 } from '../../src/rtmp/amf0.ts';
import { Mp4Splitter } from '../../src/package/mp4/splitter.ts';
import type { FlvTag } from './flv.ts';

const execFileAsync = promisify(execFile);

/** Debian's ffmpeg 5.1: it has libx265 and libsvtav1, which ffmpeg-static 4.2.1 lacks (nor can either publish Enhanced RTMP). */
export const ENCODER_FFMPEG = '/usr/bin/ffmpeg';

/** One sample of a fragmented MP4 track, times in ms. */
interface Sample {
  dts: number;
  cts: number;
  sync: boolean;
  data: Buffer;
}

/** The first `type` box's body in `bytes` (a test-only search: the fourcc bytes are unique enough in an init segment). */
function boxBody(bytes: Buffer, type: string): Buffer {
  const at = bytes.indexOf(type, 0, 'latin1');
  if (at < 4) throw new Error(`no ${type} box`);
  return bytes.subarray(at + 4, at - 4 + bytes.readUInt32BE(at - 4));
}

/** ffmpeg writes one track as fragmented MP4 with a fragment per frame; returns its init bytes and samples. */
async function encodeTrack(args: string[]): Promise<{ init: Buffer; config: Buffer | undefined; samples: Sample[] }> {
  const { stdout } = await execFileAsync(
    ENCODER_FFMPEG,
    ['-v', 'error', ...args, '-movflags', '+empty_moov+default_base_moof+frag_every_frame', '-f', 'mp4', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 64 << 20 },
  );
  const splitter = new Mp4Splitter();
  let init: Buffer | undefined;
  let config: Buffer | undefined;
  let timescale = 1000;
  const samples: Sample[] = [];
  for (const item of splitter.push(stdout)) {
    if (item.kind === 'init') {
      init = item.bytes;
      timescale = item.info.tracks[0]!.timescale;
      config = item.info.tracks[0]!.decoderConfig;
      continue;
    }
    for (const traf of item.info.tracks) {
      let dts = traf.baseDecodeTime ?? 0;
      for (const s of traf.samples) {
        samples.push({
          dts: Math.round((dts * 1000) / timescale),
          cts: Math.round((s.compositionOffset * 1000) / timescale),
          sync: s.isSync,
          data: item.bytes.subarray(s.offset!, s.offset! + s.size),
        });
        dts += s.duration;
      }
    }
  }
  if (init === undefined) throw new Error('ffmpeg wrote no init segment');
  return { init, config, samples };
}

const fourCcNumber = (fourCc: string) => Buffer.from(fourCc, 'latin1').readUInt32BE(0);

/**
 * What an Enhanced RTMP publisher (OBS 30+, FFmpeg 6.1+) sends for `seconds`
 * of synthetic HEVC (libx265), AV1 (SVT-AV1) or H.264 (libx264, as 'avc1')
 * with AAC: onMetaData naming the FourCC, the ExVideoTagHeader sequence start
 * with the hvcC / av1C / avcC, coded frames (CodedFrames with the SI24
 * composition time for 'hvc1' and 'avc1'; CodedFramesX for 'av01'), and legacy
 * AAC tags, interleaved by time. 1 s GOPs at 30 fps.
 */
export async function enhancedRtmpSource(
  codec: 'hevc' | 'av1' | 'h264',
  o: { width?: number; height?: number; seconds: number; audio?: 'aac' | 'opus' },
): Promise<FlvTag[]> {
  const { width = 320, height = 240, seconds, audio: audioCodec = 'aac' } = o;
  const fourCc = { hevc: 'hvc1', av1: 'av01', h264: 'avc1' }[codec];
  const encoder = {
    hevc: ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=none:keyint=30:min-keyint=30:scenecut=0', '-tag:v', 'hvc1'],
    av1: ['-c:v', 'libsvtav1', '-preset', '12', '-g', '30'],
    h264: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30'],
  }[codec];
  const [video, audio] = await Promise.all([
    encodeTrack(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-t', String(seconds), '-pix_fmt', 'yuv420p', ...encoder]),
    encodeTrack(['-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', String(seconds), ...(audioCodec === 'opus' ? ['-c:a', 'libopus', '-strict', '-2'] : ['-c:a', 'aac']), '-b:a', '64k']),
  ]);
  const record = video.config ?? boxBody(video.init, 'av1C');
  const opus = audioCodec === 'opus';
  // Opus: the Enhanced RTMP v2 SequenceStart carries the OpusHead (RFC 7845 5.1), built from the mp4 'dOps' box (Opus in ISOBMFF 4.3.2).
  const audioHeader = opus ? opusHeadFromDops(boxBody(audio.init, 'dOps')) : audio.config!;
  const audioTag = (packetType: number, data: Buffer) =>
    opus ? Buffer.concat([Buffer.from([(9 << 4) | packetType]), Buffer.from('Opus', 'latin1'), data]) : Buffer.concat([Buffer.from([0xaf, packetType]), data]);

  const tags: FlvTag[] = [];
  const meta = encodeAmf0('@setDataFrame', 'onMetaData', { width, height, framerate: 30, videocodecid: fourCcNumber(fourCc), audiocodecid: opus ? fourCcNumber('Opus') : 10 });
  tags.push({ type: 18, time: 0, body: meta });
  tags.push({ type: 9, time: 0, body: Buffer.concat([Buffer.from([0x80 | (1 << 4) | 0]), Buffer.from(fourCc, 'latin1'), record]) });
  tags.push({ type: 8, time: 0, body: audioTag(0, audioHeader) });
  const media: FlvTag[] = [];
  for (const s of video.samples) {
    const frameType = s.sync ? 1 : 2;
    const header =
      codec !== 'av1'
        ? Buffer.concat([Buffer.from([0x80 | (frameType << 4) | 1]), Buffer.from(fourCc, 'latin1'), Buffer.from([(s.cts >> 16) & 0xff, (s.cts >> 8) & 0xff, s.cts & 0xff])])
        : Buffer.concat([Buffer.from([0x80 | (frameType << 4) | 3]), Buffer.from(fourCc, 'latin1')]);
    media.push({ type: 9, time: s.dts, body: Buffer.concat([header, s.data]) });
  }
  for (const s of audio.samples) media.push({ type: 8, time: s.dts, body: audioTag(1, s.data) });
  media.sort((a, b) => a.time - b.time || b.type - a.type);
  return [...tags, ...media];
}

/** RFC 7845 OpusHead from an ISOBMFF 'dOps' body (big-endian there, little-endian here; version 0 → 1). */
function opusHeadFromDops(dops: Buffer): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = dops[1]!; // OutputChannelCount
  head.writeUInt16LE(dops.readUInt16BE(2), 10); // PreSkip
  head.writeUInt32LE(dops.readUInt32BE(4), 12); // InputSampleRate
  head.writeInt16LE(dops.readInt16BE(8), 16); // OutputGain
  head[18] = dops[10]!; // ChannelMappingFamily (0: no table follows)
  return head;
}
