import { Mp4InvalidError, Mp4TooLargeError, Mp4UnsupportedError } from '../../errors.ts';
import { parseAudioSpecificConfig } from '../../media/aac.ts';
import { parseAvcDecoderConfig } from '../../media/avc.ts';
import { fullBoxHeader, PayloadReader, printable, readBoxes, readBoxHeader, type Box } from './boxes.ts';
import {
  NON_SYNC_SAMPLE_FLAGS,
  parseTfhd,
  SYNC_SAMPLE_FLAGS,
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_BASE_IS_MOOF,
  TRUN_DATA_OFFSET,
  TRUN_SAMPLE_COMPOSITION_TIME_OFFSET,
  TRUN_SAMPLE_DURATION,
  TRUN_SAMPLE_FLAGS,
  TRUN_SAMPLE_SIZE,
} from './fragment.ts';

const MAX_U32 = 0xffffffff;

/**
 * A box (ISO/IEC 14496-12 4.2): 32-bit size, the four-character type, then
 * the payloads back to back. A box past 4 GiB throws Mp4TooLargeError (we
 * never write largesize).
 */
export function box(type: string, ...payloads: readonly Uint8Array[]): Buffer {
  if (type.length !== 4) throw new Mp4InvalidError(`box type '${type}' is not four characters`);
  let size = 8;
  for (const p of payloads) size += p.length;
  if (size > MAX_U32) throw new Mp4TooLargeError(`'${type}' box of ${size} bytes needs a 64-bit size`);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size, 0);
  out.write(type, 4, 4, 'latin1');
  let off = 8;
  for (const p of payloads) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A FullBox (ISO/IEC 14496-12 4.2): a box whose payload starts with an 8-bit version and 24-bit flags. */
export function fullBox(type: string, version: number, flags: number, ...payloads: readonly Uint8Array[]): Buffer {
  const vf = Buffer.allocUnsafe(4);
  vf[0] = version;
  vf.writeUIntBE(flags & 0xffffff, 1, 3);
  return box(type, vf, ...payloads);
}

/** Big-endian unsigned integers of 8, 16, 24, 32 and 64 bits (the last from a safe integer). */
export function u8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}
export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
export function i32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v);
  return b;
}
export function u64(v: number): Buffer {
  if (!Number.isSafeInteger(v) || v < 0) throw new Mp4InvalidError(`64-bit field value ${v} is not a non-negative safe integer`);
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

// ---------------------------------------------------------------------------
// Rebasing fragments ffmpeg wrote

/**
 * New decode time for a traf: a number applies to every traf of the fragment;
 * a function gets the track id and the old decode time (undefined without tfdt).
 */
export type RebaseTime = number | ((trackId: number, oldBaseDecodeTime: number | undefined) => number);

/**
 * Rewrites a fragment (a moof, ISO/IEC 14496-12 8.8.4, and what follows it)
 * onto a new timeline: every traf's tfdt (8.8.12) becomes version 1 with the
 * new baseMediaDecodeTime (a tfdt is added after the tfhd when missing), and
 * the mfhd (8.8.5) sequence_number is replaced when given. The moof grows when
 * a tfdt goes from 32 to 64 bits, so the mdat moves: every trun data_offset
 * (8.8.8) relative to the moof, and any tfhd base_data_offset (8.8.7), is
 * moved by the same number of bytes. The bytes after the moof are copied
 * unchanged. Throws Mp4InvalidError / Mp4UnsupportedError only.
 */
export function rebaseFragment(fragment: Buffer, newBaseDecodeTime: RebaseTime, newSequenceNumber?: number): Buffer {
  const h = readBoxHeader(fragment, 0);
  if (h === undefined || h.type !== 'moof') throw new Mp4InvalidError(`fragment does not start with a moof box`);
  const moofSize = h.size ?? fragment.length;
  if (moofSize > fragment.length) throw new Mp4InvalidError(`moof of ${moofSize} bytes overruns the ${fragment.length}-byte fragment`);
  const children = readBoxes(fragment, h.headerSize, moofSize);

  // First pass: rebuild each traf except trun data offsets, to learn the new moof size.
  const rebuilt: { box: Box; parts: Buffer[] | undefined; trafs: TrafRewrite | undefined }[] = [];
  for (const child of children) {
    if (child.type === 'mfhd') {
      fullBoxHeader(child);
      const seq = newSequenceNumber ?? new PayloadReader(child.payload, 'mfhd', 4).u32();
      rebuilt.push({ box: child, parts: [fullBox('mfhd', 0, 0, u32(seq))], trafs: undefined });
    } else if (child.type === 'traf') {
      rebuilt.push({ box: child, parts: undefined, trafs: planTraf(fragment, child, newBaseDecodeTime) });
    } else {
      rebuilt.push({ box: child, parts: [fragment.subarray(child.start, child.start + child.size)], trafs: undefined });
    }
  }
  let newMoofSize = 8;
  for (const r of rebuilt) newMoofSize += r.parts ? sum(r.parts) : r.trafs!.size;
  const delta = newMoofSize - moofSize;

  const out: Buffer[] = [];
  for (const r of rebuilt) out.push(...(r.parts ?? [writeTraf(r.trafs!, delta)]));
  const moof = box('moof', ...out);
  return Buffer.concat([moof, fragment.subarray(moofSize)]);
}

interface TrafRewrite {
  /** Children in order, the tfdt replaced (or inserted after the tfhd); truns kept as boxes to patch. */
  readonly children: readonly { readonly bytes: Buffer; readonly trun?: boolean; readonly tfhd?: boolean }[];
  /** Relative offsets move with the moof (default-base-is-moof or no base-data-offset); an absolute base_data_offset moves too. */
  readonly hasBaseDataOffset: boolean;
  readonly size: number;
}

function planTraf(fragment: Buffer, traf: Box, newTime: RebaseTime): TrafRewrite {
  const kids = readBoxes(fragment, traf.start + traf.headerSize, traf.start + traf.size);
  const tfhdBox = kids.find((k) => k.type === 'tfhd');
  if (tfhdBox === undefined) throw new Mp4InvalidError(`'traf' has no 'tfhd' box`);
  const tfhd = parseTfhd(tfhdBox);
  const oldTfdt = kids.find((k) => k.type === 'tfdt');
  let oldTime: number | undefined;
  if (oldTfdt !== undefined) {
    const { version } = fullBoxHeader(oldTfdt);
    const r = new PayloadReader(oldTfdt.payload, 'tfdt', 4);
    if (version === 0) oldTime = r.u32();
    else if (version === 1) oldTime = r.u64();
    else throw new Mp4UnsupportedError(`tfdt version ${version}`);
  }
  const time = typeof newTime === 'function' ? newTime(tfhd.trackId, oldTime) : newTime;
  const tfdt = fullBox('tfdt', 1, 0, u64(time));

  const children: { bytes: Buffer; trun?: boolean; tfhd?: boolean }[] = [];
  for (const k of kids) {
    const bytes = fragment.subarray(k.start, k.start + k.size);
    if (k.type === 'tfdt') continue;
    if (k.type === 'tfhd') {
      children.push({ bytes, tfhd: true });
      children.push({ bytes: tfdt });
    } else if (k.type === 'trun') {
      children.push({ bytes, trun: true });
    } else {
      children.push({ bytes });
    }
  }
  const size = 8 + children.reduce((n, c) => n + c.bytes.length, 0);
  return { children, hasBaseDataOffset: (tfhd.flags & TFHD_BASE_DATA_OFFSET) !== 0, size };
}

function writeTraf(plan: TrafRewrite, delta: number): Buffer {
  const parts = plan.children.map((c) => {
    if (delta === 0) return c.bytes;
    if (c.trun && !plan.hasBaseDataOffset) return shiftTrunDataOffset(c.bytes, delta);
    if (c.tfhd && plan.hasBaseDataOffset) return shiftBaseDataOffset(c.bytes, delta);
    return c.bytes;
  });
  return box('traf', ...parts);
}

/** A copy of a trun box (ISO/IEC 14496-12 8.8.8) with data_offset moved by delta, when it has one. */
function shiftTrunDataOffset(trun: Buffer, delta: number): Buffer {
  if (trun.length < 12) throw new Mp4InvalidError(`trun of ${trun.length} bytes has no version and flags`);
  const flags = trun.readUIntBE(9, 3);
  if ((flags & TRUN_DATA_OFFSET) === 0) return trun;
  if (trun.length < 20) throw new Mp4InvalidError(`trun of ${trun.length} bytes has no room for its data_offset`);
  const out = Buffer.from(trun);
  const moved = out.readInt32BE(16) + delta;
  if (moved > 0x7fffffff || moved < -0x80000000) throw new Mp4UnsupportedError(`trun data_offset ${moved} leaves 32 bits`);
  out.writeInt32BE(moved, 16);
  return out;
}

/** A copy of a tfhd box (ISO/IEC 14496-12 8.8.7) with base_data_offset moved by delta. */
function shiftBaseDataOffset(tfhd: Buffer, delta: number): Buffer {
  const out = Buffer.from(tfhd);
  const r = new PayloadReader(out, 'tfhd', 16);
  const moved = r.u64() + delta;
  if (moved < 0) throw new Mp4InvalidError(`tfhd base_data_offset would move to ${moved}`);
  out.writeBigUInt64BE(BigInt(moved), 16);
  return out;
}

function sum(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

// ---------------------------------------------------------------------------
// Writing CMAF from samples (FLV passthrough)

/**
 * An H.264 track as FLV carries it: `avcC` is the AVCDecoderConfigurationRecord
 * of the AVC sequence header (ISO/IEC 14496-15 5.3.3.1), samples are
 * AVCC length-prefixed NAL units.
 */
export interface AvcTrack {
  readonly kind: 'video';
  readonly codec: 'h264';
  readonly trackId: number;
  /** Ticks per second; 90000 is usual. */
  readonly timescale: number;
  readonly avcC: Buffer;
  readonly width: number;
  readonly height: number;
}

/** An AAC track as FLV carries it: `asc` is the AudioSpecificConfig of the AAC sequence header (ISO/IEC 14496-3 1.6.2.1), samples are raw access units. */
export interface AacTrack {
  readonly kind: 'audio';
  readonly codec: 'aac';
  readonly trackId: number;
  /** Ticks per second; the sample rate is usual (one AAC frame = 1024 ticks). */
  readonly timescale: number;
  readonly asc: Buffer;
  readonly sampleRate: number;
  readonly channels: number;
}

/** A track {@link writeInitSegment} and {@link writeFragment} can write. */
export type WritableTrack = AvcTrack | AacTrack;

/** An H.264 track from an FLV AVC sequence header's record; width and height come from its SPS (throws Media* errors on a bad record). */
export function avcTrack(trackId: number, avcC: Buffer, timescale = 90000): AvcTrack {
  const cfg = parseAvcDecoderConfig(avcC);
  return { kind: 'video', codec: 'h264', trackId, timescale, avcC, width: cfg.width, height: cfg.height };
}

/** An AAC track from an FLV AAC sequence header's AudioSpecificConfig; the timescale defaults to its sample rate (throws Media* errors on a bad config). */
export function aacTrack(trackId: number, asc: Buffer, timescale?: number): AacTrack {
  const cfg = parseAudioSpecificConfig(asc);
  return { kind: 'audio', codec: 'aac', trackId, timescale: timescale ?? cfg.sampleRate, asc, sampleRate: cfg.sampleRate, channels: cfg.channels };
}

/** One sample to write (ISO/IEC 14496-12 8.8.8 trun fields); its size is `data.length`. */
export interface WriteSample {
  /** Decode duration in the track's timescale. */
  readonly duration: number;
  /** The sample's bytes: AVCC length-prefixed NAL units (H.264) or one raw AAC access unit. */
  readonly data: Uint8Array;
  /** A sync sample (an IDR access unit; every AAC frame). */
  readonly isSync: boolean;
  /** Presentation minus decode time in the track's timescale, may be negative (default 0). */
  readonly compositionOffset?: number;
  /** Explicit sample flags (ISO/IEC 14496-12 8.8.3.1), overriding those derived from `isSync`. */
  readonly flags?: number;
}

const UNIT_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];
/** ISO 639-2/T 'und' packed as three 5-bit letters (ISO/IEC 14496-12 8.4.2.3). */
const LANGUAGE_UND = 0x55c4;

/**
 * A CMAF init segment (ISO/IEC 23000-19 7.3.1) for one track: ftyp (brands
 * iso6, cmfc; ISO/IEC 14496-12 4.3) and moov (8.2.1) with mvhd (8.2.2), trak
 * → tkhd (8.3.2), mdia → mdhd (8.4.2), hdlr (8.4.3), minf → vmhd/smhd
 * (12.1.2/12.2.2), dinf/dref (8.7.1), stbl with an avc1+avcC (ISO/IEC
 * 14496-15 5.4) or mp4a+esds (ISO/IEC 14496-14 5.6) sample entry and empty
 * sample tables, then mvex → trex (8.8.3). Durations are 0 (live).
 */
export function writeInitSegment(track: WritableTrack): Buffer {
  checkTrack(track);
  const ftyp = box('ftyp', Buffer.from('iso6', 'latin1'), u32(0), Buffer.from('iso6cmfcmp41', 'latin1'));
  const video = track.kind === 'video';
  const mvhd = fullBox(
    'mvhd', 0, 0,
    u32(0), u32(0), // creation, modification time
    u32(1000), u32(0), // timescale, duration
    u32(0x00010000), u16(0x0100), Buffer.alloc(10), // rate 1.0, volume 1.0, reserved
    ...UNIT_MATRIX.map(u32),
    Buffer.alloc(24), // pre_defined
    u32(track.trackId + 1), // next_track_ID
  );
  const tkhd = fullBox(
    'tkhd', 0, 0x000003, // track_enabled | track_in_movie
    u32(0), u32(0), u32(track.trackId), u32(0), u32(0), // times, track_ID, reserved, duration
    Buffer.alloc(8), u16(0), u16(0), u16(video ? 0 : 0x0100), u16(0), // reserved, layer, alternate_group, volume, reserved
    ...UNIT_MATRIX.map(u32),
    u32(video ? track.width * 65536 : 0), u32(video ? track.height * 65536 : 0),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(track.timescale), u32(0), u16(LANGUAGE_UND), u16(0));
  const hdlr = fullBox(
    'hdlr', 0, 0,
    u32(0), Buffer.from(video ? 'vide' : 'soun', 'latin1'), Buffer.alloc(12),
    Buffer.from(video ? 'VideoHandler\0' : 'SoundHandler\0', 'latin1'),
  );
  const mediaHeader = video ? fullBox('vmhd', 0, 1, Buffer.alloc(8)) : fullBox('smhd', 0, 0, u16(0), u16(0));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), track.kind === 'video' ? avc1Entry(track) : mp4aEntry(track)),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', mediaHeader, dinf, stbl)));
  const trex = fullBox('trex', 0, 0, u32(track.trackId), u32(1), u32(0), u32(0), u32(0));
  return Buffer.concat([ftyp, box('moov', mvhd, trak, box('mvex', trex))]);
}

/** VisualSampleEntry 'avc1' (ISO/IEC 14496-12 12.1.3, ISO/IEC 14496-15 5.4.2.1) holding the avcC as given. */
function avc1Entry(track: AvcTrack): Buffer {
  return box(
    'avc1',
    Buffer.alloc(6), u16(1), // reserved, data_reference_index
    Buffer.alloc(16), // pre_defined, reserved, pre_defined[3]
    u16(track.width), u16(track.height),
    u32(0x00480000), u32(0x00480000), u32(0), // 72 dpi, reserved
    u16(1), Buffer.alloc(32), u16(0x0018), u16(0xffff), // frame_count, compressorname, depth, pre_defined = -1
    box('avcC', track.avcC),
  );
}

/** AudioSampleEntry 'mp4a' (ISO/IEC 14496-12 12.2.3, ISO/IEC 14496-14 5.6.1) with its esds. */
function mp4aEntry(track: AacTrack): Buffer {
  const rate = track.sampleRate < 65536 ? track.sampleRate : 0;
  return box(
    'mp4a',
    Buffer.alloc(6), u16(1),
    Buffer.alloc(8), u16(track.channels), u16(16), u16(0), u16(0), u32(rate * 65536),
    esds(track),
  );
}

/**
 * esds (ISO/IEC 14496-14 5.6.1): ES_Descriptor (ISO/IEC 14496-1 7.2.6.5) →
 * DecoderConfigDescriptor (7.2.6.6; objectTypeIndication 0x40 MPEG-4 Audio,
 * streamType 5 audio) → DecoderSpecificInfo (the AudioSpecificConfig), and an
 * SLConfigDescriptor with predefined 2 (MP4 files, 7.2.6.8).
 */
function esds(track: AacTrack): Buffer {
  const dsi = descriptor(0x05, track.asc);
  const dcd = descriptor(0x04, Buffer.concat([u8(0x40), u8((0x05 << 2) | 1), Buffer.alloc(3), u32(0), u32(0), dsi]));
  const sl = descriptor(0x06, u8(0x02));
  const es = descriptor(0x03, Buffer.concat([u16(0), u8(0), dcd, sl]));
  return fullBox('esds', 0, 0, es);
}

/** A descriptor (ISO/IEC 14496-1 8.3.3): tag, size in 7-bit groups (high bit = more), body. */
function descriptor(tag: number, body: Buffer): Buffer {
  if (body.length >= 1 << 28) throw new Mp4TooLargeError(`descriptor of ${body.length} bytes`);
  const sizeBytes: number[] = [];
  let n = body.length;
  do {
    sizeBytes.unshift(n & 0x7f);
    n >>>= 7;
  } while (n > 0);
  for (let i = 0; i < sizeBytes.length - 1; i++) sizeBytes[i]! |= 0x80;
  return Buffer.concat([u8(tag), Buffer.from(sizeBytes), body]);
}

/**
 * One CMAF fragment (ISO/IEC 23000-19 7.3.2.3): moof (ISO/IEC 14496-12
 * 8.8.4) with mfhd (8.8.5), traf → tfhd (8.8.7; default-base-is-moof, no
 * defaults), tfdt version 1 (8.8.12) and one trun (8.8.8) with data_offset and
 * per-sample duration, size, flags and, when any is non-zero, composition
 * offsets (version 1 when any is negative), then the mdat (8.1.1) with the
 * samples' bytes in order.
 */
export function writeFragment(track: WritableTrack, sequence: number, baseDecodeTime: number, samples: readonly WriteSample[]): Buffer {
  checkTrack(track);
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_U32) throw new Mp4InvalidError(`sequence number ${sequence} is not a 32-bit unsigned integer`);
  let anyCto = false;
  let negativeCto = false;
  let dataSize = 0;
  for (const s of samples) {
    const cto = s.compositionOffset ?? 0;
    if (!Number.isInteger(s.duration) || s.duration < 0 || s.duration > MAX_U32) throw new Mp4InvalidError(`sample duration ${s.duration} is not a 32-bit unsigned integer`);
    if (!Number.isInteger(cto) || cto < -0x80000000 || cto > 0x7fffffff) throw new Mp4InvalidError(`composition offset ${cto} is not a 32-bit integer`);
    if (cto !== 0) anyCto = true;
    if (cto < 0) negativeCto = true;
    dataSize += s.data.length;
  }
  const trunFlags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS | (anyCto ? TRUN_SAMPLE_COMPOSITION_TIME_OFFSET : 0);
  const perSample = anyCto ? 16 : 12;
  const table = Buffer.allocUnsafe(samples.length * perSample);
  let off = 0;
  for (const s of samples) {
    table.writeUInt32BE(s.duration, off);
    table.writeUInt32BE(s.data.length, off + 4);
    table.writeUInt32BE((s.flags ?? (s.isSync ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS)) >>> 0, off + 8);
    if (anyCto) table.writeInt32BE(s.compositionOffset ?? 0, off + 12);
    off += perSample;
  }
  const mfhd = fullBox('mfhd', 0, 0, u32(sequence));
  const tfhd = fullBox('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, u32(track.trackId));
  const tfdt = fullBox('tfdt', 1, 0, u64(baseDecodeTime));
  // The trun's data_offset counts from the moof's first byte to the first sample, past the mdat header.
  const trunSize = 8 + 4 + 4 + 4 + table.length;
  const moofSize = 8 + mfhd.length + 8 + tfhd.length + tfdt.length + trunSize;
  const trun = fullBox('trun', negativeCto ? 1 : 0, trunFlags, u32(samples.length), i32(moofSize + 8), table);
  const moof = box('moof', mfhd, box('traf', tfhd, tfdt, trun));
  if (8 + dataSize > MAX_U32) throw new Mp4TooLargeError(`mdat of ${8 + dataSize} bytes needs a 64-bit size`);
  const mdatHeader = Buffer.allocUnsafe(8);
  mdatHeader.writeUInt32BE(8 + dataSize, 0);
  mdatHeader.write('mdat', 4, 4, 'latin1');
  return Buffer.concat([moof, mdatHeader, ...samples.map((s) => s.data)], moof.length + 8 + dataSize);
}

function checkTrack(track: WritableTrack): void {
  if (!Number.isInteger(track.trackId) || track.trackId < 1 || track.trackId >= MAX_U32) throw new Mp4InvalidError(`track id ${track.trackId} is not in [1, 2^32-1)`);
  if (!Number.isInteger(track.timescale) || track.timescale < 1 || track.timescale > MAX_U32) throw new Mp4InvalidError(`timescale ${track.timescale} is not a positive 32-bit integer`);
  const kind = (track as { kind: string }).kind;
  const codec = (track as { codec: string }).codec;
  if (!(kind === 'video' && codec === 'h264') && !(kind === 'audio' && codec === 'aac')) {
    throw new Mp4UnsupportedError(`cannot write a ${printable(String(kind))} track of codec ${printable(String(codec))}`);
  }
}
