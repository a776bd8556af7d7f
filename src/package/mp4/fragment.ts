import { Mp4InvalidError, Mp4UnsupportedError } from '../../errors.ts';
import { fullBoxHeader, PayloadReader, printable, readBoxes, readBoxHeader, requireBox, type Box } from './boxes.ts';

/** tfhd flags (ISO/IEC 14496-12 8.8.7.1). */
export const TFHD_BASE_DATA_OFFSET = 0x000001;
export const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002;
export const TFHD_DEFAULT_SAMPLE_DURATION = 0x000008;
export const TFHD_DEFAULT_SAMPLE_SIZE = 0x000010;
export const TFHD_DEFAULT_SAMPLE_FLAGS = 0x000020;
export const TFHD_DURATION_IS_EMPTY = 0x010000;
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;

/** trun flags (ISO/IEC 14496-12 8.8.8.1). */
export const TRUN_DATA_OFFSET = 0x000001;
export const TRUN_FIRST_SAMPLE_FLAGS = 0x000004;
export const TRUN_SAMPLE_DURATION = 0x000100;
export const TRUN_SAMPLE_SIZE = 0x000200;
export const TRUN_SAMPLE_FLAGS = 0x000400;
export const TRUN_SAMPLE_COMPOSITION_TIME_OFFSET = 0x000800;

/** sample_is_non_sync_sample in the sample flags (ISO/IEC 14496-12 8.8.3.1). */
export const SAMPLE_IS_NON_SYNC = 0x00010000;
/** Sample flags of a sync sample: sample_depends_on = 2 (depends on no other sample), ISO/IEC 14496-12 8.8.3.1. */
export const SYNC_SAMPLE_FLAGS = 0x02000000;
/** Sample flags of a non-sync sample: sample_depends_on = 1 and sample_is_non_sync_sample, ISO/IEC 14496-12 8.8.3.1. */
export const NON_SYNC_SAMPLE_FLAGS = 0x01010000;

/**
 * True when sample flags (ISO/IEC 14496-12 8.8.3.1) mark a sync sample:
 * sample_is_non_sync_sample clear and sample_depends_on not 1 ("depends on others").
 */
export function isSyncSampleFlags(flags: number): boolean {
  return (flags & SAMPLE_IS_NON_SYNC) === 0 && ((flags >>> 24) & 0x03) !== 1;
}

/** Per-track defaults a tfhd falls back to: the trex of the init segment (ISO/IEC 14496-12 8.8.3). */
export interface TrackDefaults {
  readonly trackId: number;
  readonly defaultSampleDescriptionIndex: number;
  readonly defaultSampleDuration: number;
  readonly defaultSampleSize: number;
  readonly defaultSampleFlags: number;
}

/** The track fragment header (ISO/IEC 14496-12 8.8.7 tfhd), optional fields present only when their flag is set. */
export interface TrackFragmentHeader {
  readonly trackId: number;
  readonly flags: number;
  readonly baseDataOffset?: number;
  readonly sampleDescriptionIndex?: number;
  readonly defaultSampleDuration?: number;
  readonly defaultSampleSize?: number;
  readonly defaultSampleFlags?: number;
  readonly durationIsEmpty: boolean;
  readonly defaultBaseIsMoof: boolean;
}

/** One sample of a track run, defaults resolved (ISO/IEC 14496-12 8.8.8 trun). */
export interface FragmentSample {
  readonly duration: number;
  readonly size: number;
  readonly flags: number;
  /** Signed with trun version 1, unsigned with version 0 (ISO/IEC 14496-12 8.8.8.3). */
  readonly compositionOffset: number;
  readonly isSync: boolean;
  /**
   * Offset of the sample's bytes from the start of the fragment (the moof's
   * first byte); undefined when the tfhd carries an absolute base-data-offset.
   */
  readonly offset: number | undefined;
}

/** What one traf says (ISO/IEC 14496-12 8.8.6 traf). */
export interface TrackFragmentInfo {
  readonly trackId: number;
  readonly tfhd: TrackFragmentHeader;
  /** tfdt baseMediaDecodeTime (ISO/IEC 14496-12 8.8.12), in the track's timescale; undefined when there is no tfdt. */
  readonly baseDecodeTime: number | undefined;
  /** tfdt version as written (0: 32-bit, 1: 64-bit); undefined without tfdt. */
  readonly tfdtVersion: number | undefined;
  /** Versions of its truns in order (1 allows negative composition offsets). */
  readonly trunVersions: readonly number[];
  /** Sum of the sample durations. */
  readonly duration: number;
  readonly sampleCount: number;
  /** The first sample is a sync sample (false for an empty traf). */
  readonly firstSampleIsSync: boolean;
  readonly samples: readonly FragmentSample[];
}

/** A parsed moof (ISO/IEC 14496-12 8.8.4) with where its mdat lies. */
export interface FragmentInfo {
  /** mfhd sequence_number (ISO/IEC 14496-12 8.8.5). */
  readonly sequenceNumber: number;
  readonly tracks: readonly TrackFragmentInfo[];
  /** Size of the moof box; it starts at offset 0. */
  readonly moofSize: number;
}

/** A generous cap on samples per fragment, checked against the trun's own count before any allocation. */
const MAX_SAMPLES_PER_TRUN = 1 << 20;

/**
 * Parses a media fragment: `bytes` begins with a moof box (ISO/IEC 14496-12
 * 8.8.4) and holds what follows it, normally its mdat (8.1.1). Reads mfhd
 * (8.8.5) and, per traf (8.8.6), tfhd (8.8.7), tfdt (8.8.12, v0 and v1) and
 * every trun (8.8.8, v0 and v1, all optional fields), resolving sample
 * defaults from the tfhd, else from `defaults` (the init segment's trex,
 * 8.8.3), else 0. Sample data must lie inside `bytes` when its offsets are
 * relative to the moof (default-base-is-moof, or no base-data-offset);
 * otherwise Mp4InvalidError. Throws Mp4InvalidError / Mp4UnsupportedError only.
 */
export function parseFragment(bytes: Buffer, defaults?: readonly TrackDefaults[]): FragmentInfo {
  const top = readTopBox(bytes);
  if (top.type !== 'moof') throw new Mp4InvalidError(`fragment starts with '${printable(top.type)}', expected 'moof'`);
  const children = readBoxes(bytes, top.start + top.headerSize, top.start + top.size);
  const mfhd = requireBox(children, 'mfhd', 'moof');
  const mfhdReader = new PayloadReader(mfhd.payload, 'mfhd', 4);
  fullBoxHeader(mfhd);
  const sequenceNumber = mfhdReader.u32();

  const tracks: TrackFragmentInfo[] = [];
  // Without base-data-offset or default-base-is-moof, the first traf's base is the moof and each
  // later one continues where the previous traf's data ended (ISO/IEC 14496-12 8.8.7.1).
  let nextImplicitBase: number | undefined = 0;
  for (const traf of children) {
    if (traf.type !== 'traf') continue;
    const info = parseTraf(traf, bytes, defaults, nextImplicitBase);
    tracks.push(info.info);
    nextImplicitBase = info.dataEnd;
  }
  return { sequenceNumber, tracks, moofSize: top.size };
}

/** The top-level box at offset 0 of a fragment, the rest of the buffer allowed to follow. */
function readTopBox(bytes: Buffer): Box {
  const h = readBoxHeader(bytes, 0);
  if (h === undefined) throw new Mp4InvalidError(`fragment of ${bytes.length} bytes is shorter than a box header`);
  const size = h.size ?? bytes.length;
  if (size > bytes.length) throw new Mp4InvalidError(`'${printable(h.type)}' of ${size} bytes overruns the ${bytes.length}-byte fragment`);
  return { type: h.type, start: 0, headerSize: h.headerSize, size, payload: bytes.subarray(h.headerSize, size) };
}

/** Reads a tfhd payload (ISO/IEC 14496-12 8.8.7.1). */
export function parseTfhd(box: Box): TrackFragmentHeader {
  const { flags } = fullBoxHeader(box);
  const r = new PayloadReader(box.payload, 'tfhd', 4);
  const trackId = r.u32();
  const out: { -readonly [K in keyof TrackFragmentHeader]: TrackFragmentHeader[K] } = {
    trackId,
    flags,
    durationIsEmpty: (flags & TFHD_DURATION_IS_EMPTY) !== 0,
    defaultBaseIsMoof: (flags & TFHD_DEFAULT_BASE_IS_MOOF) !== 0,
  };
  if (flags & TFHD_BASE_DATA_OFFSET) out.baseDataOffset = r.u64();
  if (flags & TFHD_SAMPLE_DESCRIPTION_INDEX) out.sampleDescriptionIndex = r.u32();
  if (flags & TFHD_DEFAULT_SAMPLE_DURATION) out.defaultSampleDuration = r.u32();
  if (flags & TFHD_DEFAULT_SAMPLE_SIZE) out.defaultSampleSize = r.u32();
  if (flags & TFHD_DEFAULT_SAMPLE_FLAGS) out.defaultSampleFlags = r.u32();
  return out;
}

/** Reads a tfdt (ISO/IEC 14496-12 8.8.12): version 0 32-bit, version 1 64-bit baseMediaDecodeTime. */
export function parseTfdt(box: Box): { version: number; baseDecodeTime: number } {
  const { version } = fullBoxHeader(box);
  const r = new PayloadReader(box.payload, 'tfdt', 4);
  if (version === 0) return { version, baseDecodeTime: r.u32() };
  if (version === 1) return { version, baseDecodeTime: r.u64() };
  throw new Mp4UnsupportedError(`tfdt version ${version}`);
}

function parseTraf(
  traf: Box,
  bytes: Buffer,
  defaults: readonly TrackDefaults[] | undefined,
  implicitBase: number | undefined,
): { info: TrackFragmentInfo; dataEnd: number | undefined } {
  const children = readBoxes(bytes, traf.start + traf.headerSize, traf.start + traf.size);
  const tfhd = parseTfhd(requireBox(children, 'tfhd', 'traf'));
  const trex = defaults?.find((d) => d.trackId === tfhd.trackId);
  const defDuration = tfhd.defaultSampleDuration ?? trex?.defaultSampleDuration ?? 0;
  const defSize = tfhd.defaultSampleSize ?? trex?.defaultSampleSize ?? 0;
  const defFlags = tfhd.defaultSampleFlags ?? trex?.defaultSampleFlags ?? 0;

  let baseDecodeTime: number | undefined;
  let tfdtVersion: number | undefined;
  const samples: FragmentSample[] = [];
  const trunVersions: number[] = [];
  let duration = 0;

  // Offsets relative to the moof are checked against `bytes`; an absolute base-data-offset cannot be.
  const relative = tfhd.baseDataOffset === undefined;
  const base: number | undefined = relative ? (tfhd.defaultBaseIsMoof ? 0 : implicitBase) : undefined;
  let cursor: number | undefined = base;

  for (const child of children) {
    if (child.type === 'tfdt') {
      if (tfdtVersion !== undefined) throw new Mp4InvalidError(`traf of track ${tfhd.trackId} has two tfdt boxes`);
      const t = parseTfdt(child);
      tfdtVersion = t.version;
      baseDecodeTime = t.baseDecodeTime;
      continue;
    }
    if (child.type !== 'trun') continue;
    const { version, flags } = fullBoxHeader(child);
    if (version > 1) throw new Mp4UnsupportedError(`trun version ${version}`);
    trunVersions.push(version);
    const r = new PayloadReader(child.payload, 'trun', 4);
    const count = r.u32();
    if (count > MAX_SAMPLES_PER_TRUN) throw new Mp4InvalidError(`trun declares ${count} samples, above ${MAX_SAMPLES_PER_TRUN}`);
    const perSample =
      ((flags & TRUN_SAMPLE_DURATION) !== 0 ? 4 : 0) +
      ((flags & TRUN_SAMPLE_SIZE) !== 0 ? 4 : 0) +
      ((flags & TRUN_SAMPLE_FLAGS) !== 0 ? 4 : 0) +
      ((flags & TRUN_SAMPLE_COMPOSITION_TIME_OFFSET) !== 0 ? 4 : 0);
    const fixed = ((flags & TRUN_DATA_OFFSET) !== 0 ? 4 : 0) + ((flags & TRUN_FIRST_SAMPLE_FLAGS) !== 0 ? 4 : 0);
    if (r.remaining < fixed + count * perSample) {
      throw new Mp4InvalidError(`trun of ${count} samples needs ${fixed + count * perSample} bytes, has ${r.remaining}`);
    }
    if (flags & TRUN_DATA_OFFSET) {
      const dataOffset = r.i32();
      cursor = base === undefined ? undefined : base + dataOffset;
    }
    const firstFlags = flags & TRUN_FIRST_SAMPLE_FLAGS ? r.u32() : undefined;
    for (let i = 0; i < count; i++) {
      const d = flags & TRUN_SAMPLE_DURATION ? r.u32() : defDuration;
      const size = flags & TRUN_SAMPLE_SIZE ? r.u32() : defSize;
      let sampleFlags = flags & TRUN_SAMPLE_FLAGS ? r.u32() : defFlags;
      if (i === 0 && firstFlags !== undefined) sampleFlags = firstFlags;
      const cto = flags & TRUN_SAMPLE_COMPOSITION_TIME_OFFSET ? (version === 0 ? r.u32() : r.i32()) : 0;
      if (cursor !== undefined && (cursor < 0 || cursor + size > bytes.length)) {
        throw new Mp4InvalidError(
          `track ${tfhd.trackId} sample ${samples.length} at [${cursor}, ${cursor + size}) lies outside the ${bytes.length}-byte fragment`,
        );
      }
      samples.push({ duration: d, size, flags: sampleFlags, compositionOffset: cto, isSync: isSyncSampleFlags(sampleFlags), offset: cursor });
      duration += d;
      if (cursor !== undefined) cursor += size;
    }
  }

  return {
    info: {
      trackId: tfhd.trackId,
      tfhd,
      baseDecodeTime,
      tfdtVersion,
      trunVersions,
      duration,
      sampleCount: samples.length,
      firstSampleIsSync: samples[0]?.isSync ?? false,
      samples,
    },
    dataEnd: cursor,
  };
}
