import { Mp4InvalidError, Mp4UnsupportedError, ProxyRtmpError } from '../../errors.ts';
import { parseAudioSpecificConfig } from '../../media/aac.ts';
import { parseHevcDecoderConfig } from '../../media/hevc.ts';
import { findBox, fullBoxHeader, PayloadReader, printable, readBoxes, requireBox, type Box } from './boxes.ts';
import type { TrackDefaults } from './fragment.ts';

/** One track of an init segment (ISO/IEC 14496-12 8.3 trak), as the packager needs it. */
export interface InitTrack extends TrackDefaults {
  /** tkhd track_ID (ISO/IEC 14496-12 8.3.2). */
  readonly trackId: number;
  /** hdlr handler_type (ISO/IEC 14496-12 8.4.3): 'vide', 'soun', or whatever else was written. */
  readonly handler: string;
  /** mdhd timescale (ISO/IEC 14496-12 8.4.2), ticks per second of every time in this track's fragments. */
  readonly timescale: number;
  /** The first sample entry's four-character code (ISO/IEC 14496-12 8.5.2), e.g. 'avc1', 'mp4a'. */
  readonly sampleEntry: string;
  /** RFC 6381 codec string, e.g. 'avc1.64000d', 'hvc1.1.6.L93.B0', 'mp4a.40.2'; undefined for an entry we do not name. */
  readonly codec: string | undefined;
  /** The codec configuration as stored: the avcC / hvcC record, or the AAC AudioSpecificConfig from esds. */
  readonly decoderConfig: Buffer | undefined;
  /** Visual sample entry width/height (ISO/IEC 14496-12 12.1.3), else tkhd's 16.16 width/height. */
  readonly width?: number;
  readonly height?: number;
  /** Audio sample entry (ISO/IEC 14496-12 12.2.3) rate, or the AudioSpecificConfig's when it parses. */
  readonly sampleRate?: number;
  readonly channels?: number;
}

/** What an init segment says (ISO/IEC 14496-12 8.2 moov, 8.8.1 mvex). */
export interface InitInfo {
  /** ftyp major_brand (ISO/IEC 14496-12 4.3), undefined without ftyp. */
  readonly majorBrand: string | undefined;
  readonly compatibleBrands: readonly string[];
  /** mvhd timescale (ISO/IEC 14496-12 8.2.2). */
  readonly movieTimescale: number;
  /** mvex is present, so the file is fragmented (ISO/IEC 14496-12 8.8.1). */
  readonly fragmented: boolean;
  readonly tracks: readonly InitTrack[];
}

/**
 * Parses an init segment: the top-level boxes before the first moof (ftyp,
 * moov, maybe free/udta; ISO/IEC 14496-12 4.3, 8.2.1). Per trak: tkhd
 * (8.3.2), mdhd (8.4.2), hdlr (8.4.3), the first stsd sample entry (8.5.2)
 * with avcC / hvcC (ISO/IEC 14496-15) or esds (ISO/IEC 14496-14 5.6) for the
 * codec string, and the matching trex (8.8.3). Throws Mp4InvalidError /
 * Mp4UnsupportedError only; a bad codec record is wrapped with its cause.
 */
export function parseInit(bytes: Buffer): InitInfo {
  const top = readBoxes(bytes);
  const ftyp = findBox(top, 'ftyp');
  let majorBrand: string | undefined;
  const compatibleBrands: string[] = [];
  if (ftyp !== undefined) {
    const r = new PayloadReader(ftyp.payload, 'ftyp');
    majorBrand = r.bytes(4).toString('latin1');
    r.skip(4); // minor_version
    while (r.remaining >= 4) compatibleBrands.push(r.bytes(4).toString('latin1'));
  }
  const moov = requireBox(top, 'moov', 'init segment');
  const moovChildren = children(bytes, moov);
  const mvhd = requireBox(moovChildren, 'mvhd', 'moov');
  const mvhdVersion = fullBoxHeader(mvhd).version;
  const mvhdReader = new PayloadReader(mvhd.payload, 'mvhd', 4 + (mvhdVersion === 1 ? 16 : 8));
  const movieTimescale = mvhdReader.u32();

  const mvex = findBox(moovChildren, 'mvex');
  const trexes = new Map<number, TrackDefaults>();
  if (mvex !== undefined) {
    for (const trex of children(bytes, mvex)) {
      if (trex.type !== 'trex') continue;
      fullBoxHeader(trex);
      const r = new PayloadReader(trex.payload, 'trex', 4);
      const t: TrackDefaults = {
        trackId: r.u32(),
        defaultSampleDescriptionIndex: r.u32(),
        defaultSampleDuration: r.u32(),
        defaultSampleSize: r.u32(),
        defaultSampleFlags: r.u32(),
      };
      trexes.set(t.trackId, t);
    }
  }

  const tracks: InitTrack[] = [];
  for (const trak of moovChildren) {
    if (trak.type === 'trak') tracks.push(parseTrak(bytes, trak, trexes));
  }
  return { majorBrand, compatibleBrands, movieTimescale, fragmented: mvex !== undefined, tracks };
}

function children(bytes: Buffer, box: Box): Box[] {
  return readBoxes(bytes, box.start + box.headerSize, box.start + box.size);
}

function parseTrak(bytes: Buffer, trak: Box, trexes: ReadonlyMap<number, TrackDefaults>): InitTrack {
  const trakChildren = children(bytes, trak);
  const tkhd = requireBox(trakChildren, 'tkhd', 'trak');
  const tkhdVersion = fullBoxHeader(tkhd).version;
  const tk = new PayloadReader(tkhd.payload, 'tkhd', 4 + (tkhdVersion === 1 ? 16 : 8));
  const trackId = tk.u32();
  // reserved(4), duration(4|8), reserved(8), layer, alternate_group, volume, reserved(2), matrix(36)
  tk.skip(4 + (tkhdVersion === 1 ? 8 : 4) + 8 + 2 + 2 + 2 + 2 + 36);
  const tkhdWidth = Math.floor(tk.u32() / 65536);
  const tkhdHeight = Math.floor(tk.u32() / 65536);

  const mdia = requireBox(trakChildren, 'mdia', 'trak');
  const mdiaChildren = children(bytes, mdia);
  const mdhd = requireBox(mdiaChildren, 'mdhd', 'mdia');
  const mdhdVersion = fullBoxHeader(mdhd).version;
  const timescale = new PayloadReader(mdhd.payload, 'mdhd', 4 + (mdhdVersion === 1 ? 16 : 8)).u32();
  if (timescale === 0) throw new Mp4InvalidError(`track ${trackId} has mdhd timescale 0`);
  const hdlr = requireBox(mdiaChildren, 'hdlr', 'mdia');
  const handler = new PayloadReader(hdlr.payload, 'hdlr', 8).bytes(4).toString('latin1');

  const minf = requireBox(mdiaChildren, 'minf', 'mdia');
  const stbl = requireBox(children(bytes, minf), 'stbl', 'minf');
  const stsd = requireBox(children(bytes, stbl), 'stsd', 'stbl');
  fullBoxHeader(stsd);
  const entryCount = new PayloadReader(stsd.payload, 'stsd', 4).u32();
  if (entryCount < 1) throw new Mp4InvalidError(`track ${trackId} has no sample entry`);
  const stsdStart = stsd.start + stsd.headerSize + 8;
  const [entry] = readBoxes(bytes, stsdStart, stsd.start + stsd.size);
  if (entry === undefined) throw new Mp4InvalidError(`track ${trackId} stsd declares ${entryCount} entries and holds none`);

  const trex = trexes.get(trackId);
  const base = {
    trackId,
    handler,
    timescale,
    sampleEntry: entry.type,
    defaultSampleDescriptionIndex: trex?.defaultSampleDescriptionIndex ?? 1,
    defaultSampleDuration: trex?.defaultSampleDuration ?? 0,
    defaultSampleSize: trex?.defaultSampleSize ?? 0,
    defaultSampleFlags: trex?.defaultSampleFlags ?? 0,
  };
  if (handler === 'vide') {
    const visual = parseVisualEntry(bytes, entry);
    return {
      ...base,
      codec: visual.codec,
      decoderConfig: visual.config,
      width: visual.width || tkhdWidth,
      height: visual.height || tkhdHeight,
    };
  }
  if (handler === 'soun') {
    const audio = parseAudioEntry(bytes, entry);
    return { ...base, codec: audio.codec, decoderConfig: audio.config, sampleRate: audio.sampleRate, channels: audio.channels };
  }
  return { ...base, codec: undefined, decoderConfig: undefined };
}

/** VisualSampleEntry (ISO/IEC 14496-12 12.1.3): 8 bytes of SampleEntry, 70 of visual fields, then child boxes. */
const VISUAL_ENTRY_FIELDS = 78;
/** AudioSampleEntry (ISO/IEC 14496-12 12.2.3): 8 bytes of SampleEntry, 20 of audio fields, then child boxes. */
const AUDIO_ENTRY_FIELDS = 28;

function parseVisualEntry(bytes: Buffer, entry: Box): { codec: string | undefined; config: Buffer | undefined; width: number; height: number } {
  const r = new PayloadReader(entry.payload, entry.type, 24);
  const width = r.u16();
  const height = r.u16();
  const inner = entryChildren(bytes, entry, VISUAL_ENTRY_FIELDS);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    const avcC = requireBox(inner, 'avcC', entry.type);
    if (avcC.payload.length < 4) throw new Mp4InvalidError(`avcC of ${avcC.payload.length} bytes, needs 4`);
    // RFC 6381 3.3: profile_idc, constraint flags and level_idc as they appear in the record.
    const codec = `${entry.type}.${hex2(avcC.payload[1]!)}${hex2(avcC.payload[2]!)}${hex2(avcC.payload[3]!)}`;
    return { codec, config: avcC.payload, width, height };
  }
  if (entry.type === 'hvc1' || entry.type === 'hev1') {
    const hvcC = requireBox(inner, 'hvcC', entry.type);
    const parsed = wrapMedia(() => parseHevcDecoderConfig(hvcC.payload), 'hvcC');
    return { codec: entry.type + parsed.codecString.slice(4), config: hvcC.payload, width, height };
  }
  return { codec: undefined, config: undefined, width, height };
}

function parseAudioEntry(
  bytes: Buffer,
  entry: Box,
): { codec: string | undefined; config: Buffer | undefined; sampleRate: number; channels: number } {
  const r = new PayloadReader(entry.payload, entry.type, 8);
  const soundVersion = r.u16();
  r.skip(6);
  let channels = r.u16();
  r.skip(6); // samplesize, pre_defined, reserved
  let sampleRate = Math.floor(r.u32() / 65536);
  if (soundVersion !== 0) return { codec: undefined, config: undefined, sampleRate, channels };
  if (entry.type !== 'mp4a') return { codec: undefined, config: undefined, sampleRate, channels };
  const esds = findBox(entryChildren(bytes, entry, AUDIO_ENTRY_FIELDS), 'esds');
  if (esds === undefined) return { codec: 'mp4a', config: undefined, sampleRate, channels };
  const { objectTypeIndication, decoderSpecificInfo } = parseEsds(esds);
  if (objectTypeIndication !== 0x40) return { codec: `mp4a.${hex2(objectTypeIndication).toUpperCase()}`, config: decoderSpecificInfo, sampleRate, channels };
  if (decoderSpecificInfo === undefined) throw new Mp4InvalidError('esds for MPEG-4 audio has no DecoderSpecificInfo');
  const asc = wrapMedia(() => parseAudioSpecificConfig(decoderSpecificInfo), 'AudioSpecificConfig');
  sampleRate = asc.sampleRate;
  channels = asc.channels;
  return { codec: asc.codecString, config: decoderSpecificInfo, sampleRate, channels };
}

function entryChildren(bytes: Buffer, entry: Box, fields: number): Box[] {
  const start = entry.start + entry.headerSize + fields;
  if (start > entry.start + entry.size) throw new Mp4InvalidError(`sample entry '${printable(entry.type)}' of ${entry.size} bytes is shorter than its fields`);
  return readBoxes(bytes, start, entry.start + entry.size);
}

/** Descriptor tags (ISO/IEC 14496-1 7.2.2.1): ES_Descriptor, DecoderConfigDescriptor, DecoderSpecificInfo. */
const ES_DESCR_TAG = 0x03;
const DECODER_CONFIG_DESCR_TAG = 0x04;
const DEC_SPECIFIC_INFO_TAG = 0x05;

/**
 * Reads an esds box (ISO/IEC 14496-14 5.6): the ES_Descriptor (ISO/IEC
 * 14496-1 7.2.6.5) down to the DecoderConfigDescriptor's objectTypeIndication
 * (7.2.6.6) and DecoderSpecificInfo (7.2.6.7), the AudioSpecificConfig for AAC.
 */
export function parseEsds(esds: Box): { objectTypeIndication: number; decoderSpecificInfo: Buffer | undefined } {
  fullBoxHeader(esds);
  const r = new PayloadReader(esds.payload, 'esds', 4);
  const es = readDescriptor(r);
  if (es.tag !== ES_DESCR_TAG) throw new Mp4InvalidError(`esds starts with descriptor tag ${es.tag}, expected ES_Descriptor (3)`);
  const e = new PayloadReader(es.body, 'ES_Descriptor');
  e.skip(2); // ES_ID
  const flags = e.u8();
  if (flags & 0x80) e.skip(2); // streamDependenceFlag → dependsOn_ES_ID
  if (flags & 0x40) e.skip(e.u8()); // URL_Flag → URLstring
  if (flags & 0x20) e.skip(2); // OCRstreamFlag → OCR_ES_Id
  while (e.remaining > 0) {
    const d = readDescriptor(e);
    if (d.tag !== DECODER_CONFIG_DESCR_TAG) continue;
    const dc = new PayloadReader(d.body, 'DecoderConfigDescriptor');
    const objectTypeIndication = dc.u8();
    dc.skip(12); // streamType/upStream/reserved, bufferSizeDB, maxBitrate, avgBitrate
    while (dc.remaining > 0) {
      const inner = readDescriptor(dc);
      if (inner.tag === DEC_SPECIFIC_INFO_TAG) return { objectTypeIndication, decoderSpecificInfo: inner.body };
    }
    return { objectTypeIndication, decoderSpecificInfo: undefined };
  }
  throw new Mp4InvalidError('ES_Descriptor has no DecoderConfigDescriptor');
}

/** A descriptor (ISO/IEC 14496-1 8.3.3): tag, then a size of up to four 7-bit groups. */
function readDescriptor(r: PayloadReader): { tag: number; body: Buffer } {
  const tag = r.u8();
  let size = 0;
  for (let i = 0; i < 4; i++) {
    const b = r.u8();
    size = size * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) break;
  }
  return { tag, body: r.bytes(size) };
}

/** Runs a src/media parser, turning its typed errors into Mp4InvalidError / Mp4UnsupportedError with the cause kept. */
function wrapMedia<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ProxyRtmpError) {
      const Cls = err.code === 'ERR_MEDIA_UNSUPPORTED' ? Mp4UnsupportedError : Mp4InvalidError;
      throw new Cls(`${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
