import type { Rendition, Segment, StreamSnapshot } from './types.ts';
import { withQuery } from './uri.ts';

/**
 * The MPEG-DASH manifest writer (ISO/IEC 23009-1, DASH-IF IOP v4.3 live
 * profile): a pure function from a StreamSnapshot to the text of an MPD,
 * written afresh on each request from the packager's memory.
 */

/**
 * The default latency target of the low-latency form, in parts: as LL-HLS's
 * PART-HOLD-BACK (three part targets), so both players aim at the same edge.
 */
export const LATENCY_TARGET_PARTS = 3;

/** Options of `mpd`. */
export interface MpdOptions {
  /** Where players read the server's clock (UTCTiming, ISO/IEC 23009-1 5.8.4.11); always written. */
  readonly timeUrl: string;
  /** Appended to every segment URL (e.g. `token=…` of a signed playback URL); no leading `?` needed. */
  readonly query?: string;
  /** The time-shift window the store keeps, in seconds (timeShiftBufferDepth is never below it). */
  readonly timeShiftBufferSeconds?: number;
  /** Low-latency DASH (DASH-IF IOP LL-DASH): chunks announced early, a ServiceDescription instead of suggestedPresentationDelay. */
  readonly lowLatency?: boolean;
  /** Latency the player aims for with `lowLatency`, in ms; default target three parts, min one part, max the target plus a segment. */
  readonly latency?: { readonly targetMs: number; readonly minMs: number; readonly maxMs: number };
}

/**
 * The MPD (ISO/IEC 23009-1 5.3.1): `dynamic` while live, with
 * availabilityStartTime, publishTime, minimumUpdatePeriod, the window as
 * timeShiftBufferDepth, minBufferTime and suggestedPresentationDelay (5.3.1.2);
 * `static` with mediaPresentationDuration once ended. One Period per
 * discontinuity value in the window (5.3.2; id the value, start its first
 * segment's start), an AdaptationSet per media type (5.3.3), a Representation
 * per rendition (5.3.5) holding a SegmentTemplate (5.3.9.4) with `$Number$`
 * URLs, presentationTimeOffset (our times are on the stream's timeline) and a
 * run-length SegmentTimeline (5.3.9.6) of the complete segments. UTCTiming
 * (5.8.4.11) always, so players never call a public time server.
 *
 * With `lowLatency` (DASH-IF IOP 9.X, "Low-latency Modes for DASH"):
 * availabilityTimeOffset = segment − part duration and
 * availabilityTimeComplete=false on the SegmentTemplate (5.3.9.5.3), so a
 * segment is available once its first part (CMAF chunk) is; the open segment
 * listed in the SegmentTimeline at its planned duration as soon as it has a
 * part, and the one due after it at its planned duration before it begins
 * (dash.js refreshes the MPD at most once a second), with minimumUpdatePeriod
 * one part; a ServiceDescription (Annex K) with
 * a Latency and a PlaybackRate range instead of suggestedPresentationDelay.
 *
 * Throws when segment URIs do not differ only by their msn, or msns within a
 * period are not consecutive: the store guarantees both, and DASH's
 * `$Number$` depends on them.
 */
export function mpd(snapshot: StreamSnapshot, options: MpdOptions): string {
  const lowLatency = options.lowLatency === true;
  const renditions = [...snapshot.video, ...(snapshot.audio === undefined ? [] : [snapshot.audio])];
  const live = !snapshot.ended;

  // Complete segments by discontinuity value, per rendition; in low-latency form also the open one,
  // at the duration it is due to have (its chunks are sent as they come, DASH-IF IOP 9.X.4.5).
  const byPeriod = new Map<number, Map<Rendition, Segment[]>>();
  for (const rendition of renditions) {
    for (const open of rendition.segments) {
      const announced = lowLatency && live && !open.complete && open.parts.length > 0;
      if (!open.complete && !announced) continue;
      const segment = announced ? { ...open, duration: Math.max(open.duration, open.plannedDuration ?? 0) } : open;
      let period = byPeriod.get(segment.discontinuity);
      if (period === undefined) byPeriod.set(segment.discontinuity, (period = new Map()));
      let list = period.get(rendition);
      if (list === undefined) period.set(rendition, (list = []));
      list.push(segment);
    }
    // And the segment due next, before it begins: dash.js learns of segments only from the timeline and
    // refreshes the MPD at most once a second, so a segment first listed when it begins comes up to a
    // second late and its track runs dry at every boundary. Requested early, it is held until it begins.
    const next = rendition.upcoming;
    const last = rendition.segments.at(-1);
    const list = last === undefined ? undefined : byPeriod.get(last.discontinuity)?.get(rendition);
    const listedLast = list?.at(-1);
    if (lowLatency && live && next !== undefined && listedLast !== undefined) {
      // Only the timeline fields are read: msn, uri, start, duration, initUri.
      list!.push({ ...listedLast, msn: next.msn, uri: next.uri, start: next.start, duration: next.duration, parts: [], complete: false });
    }
  }
  const periodIds = [...byPeriod.keys()].sort((a, b) => a - b);

  let windowSeconds = 0;
  let endSeconds = 0;
  for (const rendition of renditions) {
    const complete = rendition.segments.filter((s) => s.complete);
    const first = complete[0];
    const last = complete.at(-1);
    if (first === undefined || last === undefined) continue;
    windowSeconds = Math.max(windowSeconds, (last.start + last.duration - first.start) / rendition.timescale);
    endSeconds = Math.max(endSeconds, (last.start + last.duration) / rendition.timescale);
  }

  const mpdAttributes: [string, string | number | undefined][] = [
    ['xmlns', 'urn:mpeg:dash:schema:mpd:2011'],
    ['profiles', 'urn:mpeg:dash:profile:isoff-live:2011'],
    ['type', live ? 'dynamic' : 'static'],
    ['availabilityStartTime', new Date(snapshot.availabilityStartTime).toISOString()],
    ['publishTime', new Date(snapshot.now).toISOString()],
  ];
  if (live) {
    mpdAttributes.push(
      // Low latency: a new segment is announced once its first part exists; players must see it within a part.
      ['minimumUpdatePeriod', duration(lowLatency ? snapshot.partSeconds : snapshot.segmentSeconds)],
      // The window the store keeps, not what it lists yet: a player must not take the first seconds for a window of that size.
      ['timeShiftBufferDepth', duration(Math.max(windowSeconds, options.timeShiftBufferSeconds ?? 0))],
    );
    if (!lowLatency) mpdAttributes.push(['suggestedPresentationDelay', duration(3 * snapshot.segmentSeconds)]);
  } else {
    mpdAttributes.push(['mediaPresentationDuration', duration(endSeconds)]);
  }
  mpdAttributes.push(['minBufferTime', duration(snapshot.segmentSeconds)]);

  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<MPD ${xmlAttributes(mpdAttributes)}>`];
  out.push(`  <ProgramInformation><Title>${xmlEscape(snapshot.key)}</Title></ProgramInformation>`);
  if (live && lowLatency) {
    const target = options.latency?.targetMs ?? Math.round(1000 * LATENCY_TARGET_PARTS * snapshot.partSeconds);
    const min = options.latency?.minMs ?? Math.round(1000 * snapshot.partSeconds);
    const max = options.latency?.maxMs ?? Math.round(target + 1000 * snapshot.segmentSeconds);
    out.push(
      '  <ServiceDescription id="0">',
      `    <Latency target="${target}" min="${min}" max="${max}" referenceId="0"/>`,
      '    <PlaybackRate min="0.96" max="1.04"/>',
      '  </ServiceDescription>',
    );
  }

  if (periodIds.length === 0) {
    // The schema asks for one Period at least; an empty one until a segment is complete.
    const id = renditions.flatMap((r) => r.segments)[0]?.discontinuity ?? 0;
    out.push(`  <Period id="${id}" start="${duration(snapshot.discontinuityStarts?.get(id) ?? 0)}"/>`);
  }
  for (const id of periodIds) {
    const period = byPeriod.get(id)!;
    const start = snapshot.discontinuityStarts?.get(id)
      ?? Math.min(...[...period].map(([rendition, segments]) => segments[0]!.start / rendition.timescale));
    out.push(`  <Period id="${id}" start="${duration(start)}">`);
    const video = snapshot.video.filter((r) => period.has(r));
    if (video.length > 0) {
      const most = (pick: (r: Rendition) => number | undefined) => {
        const values = video.map(pick).filter((v): v is number => v !== undefined);
        return values.length === video.length ? Math.max(...values) : undefined;
      };
      const maxFrameRate = most((r) => r.frameRate);
      out.push(`    <AdaptationSet ${xmlAttributes([
        ['id', 0],
        ['contentType', 'video'],
        ['mimeType', 'video/mp4'],
        ['segmentAlignment', 'true'],
        ['startWithSAP', 1],
        ['maxWidth', most((r) => r.width)],
        ['maxHeight', most((r) => r.height)],
        ['maxFrameRate', maxFrameRate === undefined ? undefined : frameRate(maxFrameRate)],
      ])}>`);
      for (const rendition of [...video].sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || b.bandwidth - a.bandwidth)) {
        out.push(`      <Representation ${xmlAttributes([
          ['id', rendition.name],
          ['bandwidth', Math.ceil(rendition.bandwidth)],
          ['codecs', rendition.codecs],
          ['width', rendition.width],
          ['height', rendition.height],
          ['frameRate', rendition.frameRate === undefined ? undefined : frameRate(rendition.frameRate)],
        ])}>`);
        out.push(...segmentTemplate(rendition, period.get(rendition)!, start, snapshot, options, '        '));
        out.push('      </Representation>');
      }
      out.push('    </AdaptationSet>');
    }
    const audio = snapshot.audio;
    if (audio !== undefined && period.has(audio)) {
      out.push(`    <AdaptationSet ${xmlAttributes([
        ['id', 1],
        ['contentType', 'audio'],
        ['mimeType', 'audio/mp4'],
        ['lang', 'und'],
        ['segmentAlignment', 'true'],
        ['startWithSAP', 1],
      ])}>`);
      out.push(`      <Representation ${xmlAttributes([
        ['id', audio.name],
        ['bandwidth', Math.ceil(audio.bandwidth)],
        ['codecs', audio.codecs],
        ['audioSamplingRate', audio.sampleRate],
      ])}>`);
      if (audio.channels !== undefined) {
        out.push(`        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${audio.channels}"/>`);
      }
      out.push(...segmentTemplate(audio, period.get(audio)!, start, snapshot, options, '        '));
      out.push('      </Representation>', '    </AdaptationSet>');
    }
    out.push('  </Period>');
  }
  out.push(`  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${xmlEscape(options.timeUrl)}"/>`, '</MPD>');
  return `${out.join('\n')}\n`;
}

/**
 * The `media` template of a period's segments (ISO/IEC 23009-1 5.3.9.4.4):
 * the first segment's URI with its msn replaced by `$Number$`, every other
 * segment checked to fit it. Where the msn's digits occur more than once
 * (`…/4.m4s`), the occurrences that every segment fits are tried, those not
 * touching a letter first, the last first. `$` elsewhere is doubled, as the
 * template syntax asks. Exported for the tests.
 */
export function mediaTemplate(segments: readonly Segment[]): string {
  const first = segments[0];
  if (first === undefined) throw new Error('mediaTemplate: no segment');
  for (const [i, segment] of segments.entries()) {
    if (segment.msn !== first.msn + i) throw new Error(`mediaTemplate: msn ${segment.msn} follows ${first.msn + i - 1}`);
  }
  const msn = String(first.msn);
  const letter = /[A-Za-z]/;
  const candidates = [...first.uri.matchAll(/\d+/g)]
    .filter((m) => m[0] === msn)
    .map((m) => ({ at: m.index, inWord: letter.test(first.uri[m.index - 1] ?? '') || letter.test(first.uri[m.index + msn.length] ?? '') }))
    .reverse()
    .sort((a, b) => Number(a.inWord) - Number(b.inWord));
  if (candidates.length === 0) throw new Error(`mediaTemplate: ${JSON.stringify(first.uri)} does not carry its msn ${msn}`);
  for (const { at } of candidates) {
    const prefix = first.uri.slice(0, at);
    const suffix = first.uri.slice(at + msn.length);
    if (segments.every((segment) => segment.uri === `${prefix}${segment.msn}${suffix}`)) return `${dollars(prefix)}$Number$${dollars(suffix)}`;
  }
  const misfit = segments.find((segment) => !segment.uri.includes(String(segment.msn))) ?? segments.at(-1)!;
  throw new Error(`mediaTemplate: ${JSON.stringify(misfit.uri)} does not fit the pattern of ${JSON.stringify(first.uri)}`);
}

/** One `<S>` of a SegmentTimeline (ISO/IEC 23009-1 5.3.9.6): `r` repeats after the first; `t` absent when it follows on. */
export interface TimelineEntry {
  readonly t: number | undefined;
  readonly d: number;
  readonly r: number;
}

/** Segments as SegmentTimeline entries: equal durations that follow on without a gap share one `<S>`. */
export function timeline(segments: readonly Segment[]): TimelineEntry[] {
  const out: { t: number | undefined; d: number; r: number }[] = [];
  let next: number | undefined;
  for (const segment of segments) {
    const current = out.at(-1);
    if (current !== undefined && segment.start === next && segment.duration === current.d) current.r++;
    else out.push({ t: segment.start === next ? undefined : segment.start, d: segment.duration, r: 0 });
    next = segment.start + segment.duration;
  }
  return out;
}

function segmentTemplate(
  rendition: Rendition,
  segments: readonly Segment[],
  periodStart: number,
  snapshot: StreamSnapshot,
  options: MpdOptions,
  indent: string,
): string[] {
  const first = segments[0]!;
  for (const segment of segments) {
    if (segment.initUri !== first.initUri) {
      throw new Error(`mpd: ${rendition.name} changes init segment within period ${first.discontinuity}`);
    }
  }
  const query = options.query === undefined ? undefined : dollars(options.query);
  const attributes: [string, string | number | undefined][] = [
    ['timescale', rendition.timescale],
    ['initialization', withQuery(dollars(first.initUri), query)],
    ['media', withQuery(mediaTemplate(segments), query)],
    ['startNumber', first.msn],
    ['presentationTimeOffset', Math.round(periodStart * rendition.timescale)],
  ];
  if (options.lowLatency === true && !snapshot.ended) {
    attributes.push(
      ['availabilityTimeOffset', decimal(snapshot.segmentSeconds - snapshot.partSeconds)],
      ['availabilityTimeComplete', 'false'],
    );
  }
  const lines = [`${indent}<SegmentTemplate ${xmlAttributes(attributes)}>`, `${indent}  <SegmentTimeline>`];
  for (const s of timeline(segments)) {
    lines.push(`${indent}    <S ${xmlAttributes([['t', s.t], ['d', s.d], ['r', s.r === 0 ? undefined : s.r]])}/>`);
  }
  lines.push(`${indent}  </SegmentTimeline>`, `${indent}</SegmentTemplate>`);
  return lines;
}

/** `$` doubled: a literal dollar in a SegmentTemplate URL (ISO/IEC 23009-1 5.3.9.4.4, table 16). */
function dollars(text: string): string {
  return text.replace(/\$/g, '$$$$');
}

/**
 * A FrameRateType (ISO/IEC 23009-1 5.3.12.2): an integer or a fraction, never
 * a decimal; 29.97… is `30000/1001`.
 */
export function frameRate(fps: number): string {
  if (Number.isInteger(fps)) return String(fps);
  const ntsc = (fps * 1001) / 1000;
  if (Math.abs(ntsc - Math.round(ntsc)) < 1e-3) return `${Math.round(ntsc) * 1000}/1001`;
  const milli = Math.round(fps * 1000);
  const g = gcd(milli, 1000);
  return g === 1000 ? String(milli / 1000) : `${milli / g}/${1000 / g}`;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** An xs:duration in seconds (`PT2S`, `PT0.5S`), to the microsecond. */
function duration(seconds: number): string {
  return `PT${decimal(seconds)}S`;
}

function decimal(x: number): string {
  return x.toFixed(6).replace(/\.?0+$/, '');
}

/** Text safe in XML content and attribute values: markup escaped, characters XML 1.0 forbids replaced by U+FFFD. */
function xmlEscape(text: string): string {
  return text
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function xmlAttributes(pairs: readonly (readonly [string, string | number | undefined])[]): string {
  return pairs
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}="${xmlEscape(String(value))}"`)
    .join(' ');
}
