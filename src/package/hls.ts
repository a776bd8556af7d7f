import type { Rendition, Segment, StreamSnapshot } from './types.ts';
import { withQuery } from './uri.ts';

/**
 * HLS playlist writers (RFC 8216, and RFC 8216bis for Low-Latency HLS): pure
 * functions from a StreamSnapshot to the text of a playlist, written afresh
 * on each request from the packager's memory.
 */

/**
 * EXT-X-VERSION of every playlist we write. RFC 8216 7 asks only 6 of a Media
 * Playlist with EXT-X-MAP, but the tag also vouches for the media (RFC 8216
 * 4.3.1.2), and fMP4 segments entered the protocol with version 7 (the
 * version RFC 8216 describes); ffmpeg and Apple's examples say 7 too.
 */
const FMP4_VERSION = 7;
/** RFC 8216bis 8: a Playlist with EXT-X-SKIP must say 9 or higher. */
const SKIP_VERSION = 9;

/** Where the master playlist points for a rendition, relative to the stream's directory. */
export type PlaylistUri = (rendition: Rendition) => string;

/** The default media playlist URI: `<rendition name>.m3u8`, e.g. `720p.m3u8`, `audio.m3u8`. */
export const defaultPlaylistUri: PlaylistUri = (rendition) => `${rendition.name}.m3u8`;

/** Options of `masterPlaylist`. */
export interface MasterPlaylistOptions {
  /** Appended to every URI (e.g. `token=…` of a signed playback URL); no leading `?` needed. */
  readonly query?: string;
  /** Media playlist URIs; `defaultPlaylistUri` when absent. */
  readonly playlistUri?: PlaylistUri;
}

/** Options of `mediaPlaylist`. */
export interface MediaPlaylistOptions {
  /** Appended to every URI (e.g. `token=…` of a signed playback URL); no leading `?` needed. */
  readonly query?: string;
  /** Low-Latency HLS (RFC 8216bis): part, server-control, preload-hint and rendition-report tags. */
  readonly lowLatency?: boolean;
  /** The request asked for a delta update (`_HLS_skip=YES`, RFC 8216bis 6.2.5.1); honoured only with `lowLatency`. */
  readonly skip?: boolean;
  /** URI of the part the store will produce next (EXT-X-PRELOAD-HINT); no hint without it. */
  readonly nextPartUri?: string;
  /** URIs of the other renditions' playlists in EXT-X-RENDITION-REPORT; `defaultPlaylistUri` when absent. */
  readonly playlistUri?: PlaylistUri;
}

/** The last part a playlist of this rendition can list: what blocking reloads and rendition reports compare against. */
export interface PlaylistEnd {
  /** Media sequence number of the segment holding the last part (RFC 8216bis 4.4.5.4 LAST-MSN). */
  readonly msn: number;
  /** Index of that part in its segment (LAST-PART). */
  readonly part: number;
}

/**
 * The last available part of `rendition`: the last part of its newest segment
 * that has one, complete or not (RFC 8216bis 6.2.5.2: a blocking request for
 * `_HLS_msn=M&_HLS_part=N` is answered once M.N is at or before this). Undefined
 * while no part exists.
 */
export function playlistEnd(rendition: Rendition): PlaylistEnd | undefined {
  for (let i = rendition.segments.length - 1; i >= 0; i--) {
    const segment = rendition.segments[i]!;
    if (segment.parts.length > 0) return { msn: segment.msn, part: segment.parts.length - 1 };
  }
  return undefined;
}

/**
 * The master (multivariant) playlist (RFC 8216 4.3.4): one EXT-X-STREAM-INF
 * per video rendition, in the ladder's order, tallest first (4.3.4.2: BANDWIDTH is the
 * video's peak plus the audio's, AVERAGE-BANDWIDTH the same of the measured
 * averages once both are known), the audio as one EXT-X-MEDIA rendition group
 * (4.3.4.1) that every variant names. With no video, the audio playlist is the
 * only variant; with no audio, there is no EXT-X-MEDIA.
 */
export function masterPlaylist(snapshot: StreamSnapshot, options: MasterPlaylistOptions = {}): string {
  const playlistUri = options.playlistUri ?? defaultPlaylistUri;
  const uri = (rendition: Rendition) => withQuery(playlistUri(rendition), options.query);
  const { audio } = snapshot;
  // Tallest first, as the ladder: by BANDWIDTH, measured peaks could swap neighbouring rungs.
  const video = [...snapshot.video].sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || b.bandwidth - a.bandwidth);
  if (video.length === 0 && audio === undefined) {
    throw new TypeError(`masterPlaylist: stream ${JSON.stringify(snapshot.key)} has no rendition`);
  }
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${FMP4_VERSION}`, '#EXT-X-INDEPENDENT-SEGMENTS'];

  if (video.length === 0 && audio !== undefined) {
    lines.push(`#EXT-X-STREAM-INF:${attributes([
      ['BANDWIDTH', Math.ceil(audio.bandwidth)],
      ['AVERAGE-BANDWIDTH', audio.averageBandwidth === undefined ? undefined : Math.ceil(audio.averageBandwidth)],
      ['CODECS', quoted(audio.codecs)],
    ])}`, uri(audio));
    return text(lines);
  }

  if (audio !== undefined) {
    lines.push(`#EXT-X-MEDIA:${attributes([
      ['TYPE', 'AUDIO'],
      ['GROUP-ID', '"audio"'],
      ['NAME', quoted(audio.name)],
      ['DEFAULT', 'YES'],
      ['AUTOSELECT', 'YES'],
      ['CHANNELS', audio.channels === undefined ? undefined : `"${audio.channels}"`],
      ['URI', quoted(uri(audio))],
    ])}`);
  }
  for (const rendition of video) {
    const average = rendition.averageBandwidth === undefined || (audio !== undefined && audio.averageBandwidth === undefined)
      ? undefined
      : Math.ceil(rendition.averageBandwidth + (audio?.averageBandwidth ?? 0));
    lines.push(`#EXT-X-STREAM-INF:${attributes([
      ['BANDWIDTH', Math.ceil(rendition.bandwidth + (audio?.bandwidth ?? 0))],
      ['AVERAGE-BANDWIDTH', average],
      ['RESOLUTION', rendition.width !== undefined && rendition.height !== undefined ? `${rendition.width}x${rendition.height}` : undefined],
      ['CODECS', quoted(audio === undefined ? rendition.codecs : `${rendition.codecs},${audio.codecs}`)],
      ['FRAME-RATE', rendition.frameRate === undefined ? undefined : rendition.frameRate.toFixed(3)],
      ['AUDIO', audio === undefined ? undefined : '"audio"'],
    ])}`, uri(rendition));
  }
  return text(lines);
}

/**
 * EXT-X-TARGETDURATION of `rendition` (RFC 8216 4.3.3.1): an integer that
 * every EXTINF, rounded to the nearest integer, does not exceed, and that must
 * not change over the playlist's life. So it is never below the nominal
 * segment duration rounded up, and rises above it only for a segment longer
 * than that by half a second or more (one cut on a late keyframe).
 */
export function targetDuration(snapshot: StreamSnapshot, rendition: Rendition): number {
  let target = Math.max(1, Math.ceil(snapshot.segmentSeconds));
  for (const segment of rendition.segments) {
    if (segment.complete) target = Math.max(target, Math.round(segment.duration / rendition.timescale));
  }
  return target;
}

/**
 * The media playlist of one rendition (RFC 8216 4.3.3, 4.3.2): the complete
 * segments of the window, each with EXTINF (4.3.2.1), EXT-X-DISCONTINUITY where
 * the discontinuity value changes (4.3.2.3), EXT-X-MAP on the first segment,
 * whenever the init segment changes and after each discontinuity (4.3.2.5),
 * EXT-X-PROGRAM-DATE-TIME on the first segment and after each discontinuity
 * (4.3.2.6), EXT-X-ENDLIST once the stream has ended (4.3.3.4). The segment
 * still being written is left out.
 *
 * With `lowLatency` (RFC 8216bis 4.4.3.7, 4.4.3.8, 4.4.4.9, 4.4.5.2, 4.4.5.3):
 * EXT-X-SERVER-CONTROL (blocking reload, PART-HOLD-BACK three part targets,
 * CAN-SKIP-UNTIL six target durations), EXT-X-PART-INF, EXT-X-PART for the
 * segments that start within three target durations of the playlist's end
 * (the open segment's parts included), EXT-X-PRELOAD-HINT for `nextPartUri`
 * and an EXT-X-RENDITION-REPORT per other rendition. With `skip` too, the
 * segments that end at least CAN-SKIP-UNTIL before the playlist's end are
 * replaced by EXT-X-SKIP (a Playlist Delta Update, 6.2.5.1).
 */
export function mediaPlaylist(snapshot: StreamSnapshot, rendition: Rendition, options: MediaPlaylistOptions = {}): string {
  const { query } = options;
  const lowLatency = options.lowLatency === true;
  const ts = rendition.timescale;
  const target = targetDuration(snapshot, rendition);

  const complete = rendition.segments.filter((s) => s.complete);
  const last = rendition.segments.at(-1);
  const open = lowLatency && !snapshot.ended && last !== undefined && !last.complete && last.parts.length > 0 ? last : undefined;
  const listed: readonly Segment[] = open === undefined ? complete : [...complete, open];
  const tail = listed.at(-1);
  const end = tail === undefined ? 0 : tail.start + tail.duration;

  const skipUntil = 6 * target;
  let skipped = 0;
  if (lowLatency && options.skip === true) {
    while (skipped < complete.length && end - segmentEnd(complete[skipped]!) >= skipUntil * ts) skipped++;
  }

  const first = rendition.segments[0];
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${skipped > 0 ? SKIP_VERSION : FMP4_VERSION}`, `#EXT-X-TARGETDURATION:${target}`];
  let partTarget = 0;
  if (lowLatency) {
    partTarget = partTargetDuration(snapshot, rendition);
    lines.push(
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${decimal(3 * partTarget)},CAN-SKIP-UNTIL=${decimal(skipUntil)}`,
      `#EXT-X-PART-INF:PART-TARGET=${decimal(partTarget)}`,
    );
  }
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${first?.msn ?? 1}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${first?.discontinuity ?? 0}`);
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);

  for (let i = skipped; i < listed.length; i++) {
    const segment = listed[i]!;
    const previous = listed[i - 1];
    const discontinuity = previous !== undefined && previous.discontinuity !== segment.discontinuity;
    const leading = i === skipped;
    if (discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (leading || discontinuity || previous?.initUri !== segment.initUri) {
      lines.push(`#EXT-X-MAP:URI=${quoted(withQuery(segment.initUri, query))}`);
    }
    if (leading || discontinuity) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTime).toISOString()}`);
    if (lowLatency && end - segment.start <= 3 * target * ts) {
      for (const part of segment.parts) {
        lines.push(`#EXT-X-PART:${attributes([
          ['DURATION', (part.duration / ts).toFixed(5)],
          ['URI', quoted(withQuery(part.uri, query))],
          ['INDEPENDENT', part.independent ? 'YES' : undefined],
        ])}`);
      }
    }
    if (segment.complete) lines.push(`#EXTINF:${(segment.duration / ts).toFixed(5)},`, withQuery(segment.uri, query));
  }

  if (lowLatency) {
    if (!snapshot.ended && options.nextPartUri !== undefined) {
      lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${quoted(withQuery(options.nextPartUri, query))}`);
    }
    const playlistUri = options.playlistUri ?? defaultPlaylistUri;
    const others = [...snapshot.video, ...(snapshot.audio === undefined ? [] : [snapshot.audio])].filter((r) => r.name !== rendition.name);
    for (const other of others) {
      const otherEnd = playlistEnd(other);
      if (otherEnd === undefined) continue;
      lines.push(`#EXT-X-RENDITION-REPORT:URI=${quoted(withQuery(playlistUri(other), query))},LAST-MSN=${otherEnd.msn},LAST-PART=${otherEnd.part}`);
    }
  }
  if (snapshot.ended) lines.push('#EXT-X-ENDLIST');
  return text(lines);
}

/**
 * PART-TARGET of `rendition` in seconds (RFC 8216bis 4.4.3.7): no part may
 * last longer, so the nominal part duration, or the longest part in the
 * window where the cut to a sample boundary made one longer; rounded up to
 * the 5 decimals it is written with.
 */
export function partTargetDuration(snapshot: StreamSnapshot, rendition: Rendition): number {
  let longest = 0;
  for (const segment of rendition.segments) {
    for (const part of segment.parts) longest = Math.max(longest, part.duration);
  }
  return ceil5(Math.max(snapshot.partSeconds, longest / rendition.timescale));
}

function segmentEnd(segment: Segment): number {
  return segment.start + segment.duration;
}

/** `x` rounded up to 5 decimals; the tolerance absorbs binary noise (0.1 + 0.2). */
function ceil5(x: number): number {
  return Math.ceil(x * 1e5 - 1e-6) / 1e5;
}

/** A decimal-floating-point (RFC 8216 4.2) of at most 5 decimals, rounded up, without trailing zeros. */
function decimal(x: number): string {
  return ceil5(x).toFixed(5).replace(/\.?0+$/, '');
}

/** A quoted-string (RFC 8216 4.2): no `"`, CR or LF can appear inside, so they (and other controls) become `'` and spaces. */
function quoted(value: string): string {
  return `"${value.replace(/"/g, "'").replace(/[\x00-\x1f\x7f]/g, ' ')}"`;
}

/** An attribute-list (RFC 8216 4.2); absent values are left out. */
function attributes(pairs: readonly (readonly [string, string | number | undefined])[]): string {
  return pairs.filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`).join(',');
}

function text(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}
