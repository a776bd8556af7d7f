/**
 * Small StreamSnapshots for the writer tests, described in seconds.
 *
 * URIs follow the store's layout: `i<discontinuity>/<rendition>/<msn>.m4s`,
 * parts `…/<msn>.<index>.m4s`, init `i<discontinuity>/<rendition>/init.mp4`.
 */
import fc from 'fast-check';
import type { Part, Rendition, Segment, StreamSnapshot } from '../../src/package/types.ts';

/** 2024-01-01T12:00:00.123Z: the wall clock of stream time 0. */
export const EPOCH = Date.UTC(2024, 0, 1, 12, 0, 0, 123);

export interface SegmentSpec {
  /** Part durations in seconds; default: 0.5 s parts filling `seconds`. */
  readonly parts?: readonly number[];
  /** Used when `parts` is absent; default 2. */
  readonly seconds?: number;
  readonly complete?: boolean;
  readonly discontinuity?: number;
  readonly initUri?: string;
  /** Start in seconds; default: the previous segment's end. */
  readonly start?: number;
}

export interface RenditionSpec {
  readonly name: string;
  readonly kind?: 'video' | 'audio';
  readonly timescale?: number;
  readonly firstMsn?: number;
  /** Start of the first segment in seconds; default (firstMsn − 1) × 2. */
  readonly start?: number;
  readonly segments: readonly SegmentSpec[];
  readonly bandwidth?: number;
  readonly averageBandwidth?: number;
  readonly codecs?: string;
  readonly width?: number;
  readonly height?: number;
  readonly frameRate?: number;
  readonly sampleRate?: number;
  readonly channels?: number;
}

function partsOf(seconds: number, part = 0.5): number[] {
  const out: number[] = [];
  let left = seconds;
  while (left > 1e-9) {
    out.push(Math.min(part, left));
    left -= part;
  }
  return out;
}

/** A rendition built from segment specs in seconds; times in `timescale` ticks (90 kHz video, 48 kHz audio). */
export function rendition(spec: RenditionSpec): Rendition {
  const kind = spec.kind ?? (spec.name === 'audio' ? 'audio' : 'video');
  const ts = spec.timescale ?? (kind === 'audio' ? 48_000 : 90_000);
  const firstMsn = spec.firstMsn ?? 1;
  let t = Math.round((spec.start ?? (firstMsn - 1) * 2) * ts);
  const segments: Segment[] = spec.segments.map((s, i) => {
    const msn = firstMsn + i;
    const discontinuity = s.discontinuity ?? 0;
    const dir = `i${discontinuity}/${spec.name}`;
    if (s.start !== undefined) t = Math.round(s.start * ts);
    const start = t;
    const parts: Part[] = [];
    for (const [index, seconds] of (s.parts ?? partsOf(s.seconds ?? 2)).entries()) {
      const duration = Math.round(seconds * ts);
      parts.push({ index, uri: `${dir}/${msn}.${index}.m4s`, start: t, duration, independent: kind === 'audio' || index === 0, bytes: Buffer.alloc(0) });
      t += duration;
    }
    return {
      msn,
      uri: `${dir}/${msn}.m4s`,
      start,
      duration: t - start,
      parts,
      complete: s.complete ?? true,
      programDateTime: EPOCH + Math.round((start / ts) * 1000),
      discontinuity,
      initUri: s.initUri ?? `${dir}/init.mp4`,
    };
  });
  return {
    name: spec.name,
    kind,
    codecs: spec.codecs ?? (kind === 'audio' ? 'mp4a.40.2' : 'avc1.64001f'),
    timescale: ts,
    bandwidth: spec.bandwidth ?? (kind === 'audio' ? 128_000 : 3_000_000),
    averageBandwidth: spec.averageBandwidth,
    ...(spec.width === undefined ? {} : { width: spec.width }),
    ...(spec.height === undefined ? {} : { height: spec.height }),
    ...(spec.frameRate === undefined ? {} : { frameRate: spec.frameRate }),
    ...(spec.sampleRate === undefined ? {} : { sampleRate: spec.sampleRate }),
    ...(spec.channels === undefined ? {} : { channels: spec.channels }),
    segments,
  };
}

/** `count` segments of `seconds` each; the last open with `openParts` parts when given. */
export function run(count: number, options: { seconds?: number; openParts?: number; discontinuity?: number } = {}): SegmentSpec[] {
  const out: SegmentSpec[] = [];
  for (let i = 0; i < count; i++) out.push({ seconds: options.seconds ?? 2, discontinuity: options.discontinuity ?? 0 });
  if (options.openParts !== undefined) {
    out.push({ parts: partsOf(0.5 * options.openParts), complete: false, discontinuity: options.discontinuity ?? 0 });
  }
  return out;
}

export function snapshot(fields: Partial<StreamSnapshot> & { video?: readonly Rendition[] }): StreamSnapshot {
  return {
    key: 'cam1',
    segmentSeconds: 2,
    partSeconds: 0.5,
    availabilityStartTime: EPOCH,
    now: EPOCH + 60_000,
    ended: false,
    video: [],
    audio: undefined,
    ...fields,
  };
}

/** Random windows: 0–15 segments of 0.5–4 s in 0.1 s steps, discontinuities, maybe an open last segment. */
export const windowArbitrary = fc.record({
  firstMsn: fc.integer({ min: 1, max: 100_000 }),
  firstDiscontinuity: fc.integer({ min: 0, max: 50 }),
  segmentSeconds: fc.constantFrom(1, 2, 4, 6),
  segments: fc.array(fc.record({ tenths: fc.integer({ min: 5, max: 40 }), bump: fc.boolean(), initChange: fc.boolean() }), { maxLength: 15 }),
  openParts: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  ended: fc.boolean(),
});

export type Window = typeof windowArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The 720p rendition and snapshot of a random window. */
export function windowOf(w: Window) {
  let discontinuity = w.firstDiscontinuity;
  let init = 0;
  const specs: SegmentSpec[] = w.segments.map((s, i) => {
    if (i > 0 && s.bump) discontinuity++;
    if (s.initChange) init++;
    return { seconds: s.tenths / 10, discontinuity, initUri: `i${discontinuity}/720p/init-${init}.mp4` };
  });
  if (w.openParts !== undefined) specs.push({ parts: Array(w.openParts).fill(0.5), complete: false, discontinuity });
  const r = rendition({ name: '720p', firstMsn: w.firstMsn, segments: specs });
  return { r, s: snapshot({ segmentSeconds: w.segmentSeconds, ended: w.ended, video: [r] }) };
}
