/**
 * What the packager keeps of a stream in memory, as the playlist and manifest
 * writers read it. Pure data: the store (src/package/store.ts) builds these
 * snapshots, hls.ts and dash.ts turn them into text, http/ serves the bytes.
 *
 * Times are integers in the track's timescale (`Rendition.timescale`), on the
 * stream's own timeline: 0 at the stream's first sample, monotonic, never
 * reset by an ffmpeg restart or a publisher reconnect (a JavaScript number is
 * exact to 2^53: over 3,000 years at 90 kHz). Wall-clock instants are ms since
 * the Unix epoch.
 *
 * URIs are relative to the stream's directory (`/streams/<key>/`), one path
 * element each (`<rendition>-<instance>-<msn>.m4s`, `…-<msn>.<part>.m4s`,
 * `…-init<discontinuity>.mp4`), and unique for the life of the process: each
 * carries the stream instance's id, so no URI is ever served with two
 * different bodies, whatever caches hold.
 */

/** One CMAF chunk: a moof+mdat pair (ISO/IEC 23000-19 7.3.2.3), the LL-HLS part and LL-DASH chunk. */
export interface Part {
  /** Position in its segment, from 0. */
  readonly index: number;
  /** e.g. `720p-a1b2c3-17.2.m4s`: part 2 of segment 17. */
  readonly uri: string;
  /** Decode time of its first sample. */
  readonly start: number;
  readonly duration: number;
  /** Starts with a sync sample (RFC 8216bis 4.4.4.9 INDEPENDENT=YES); always true for audio. */
  readonly independent: boolean;
  readonly bytes: Buffer;
}

/** A CMAF segment: the parts from one sync sample on the segment grid to the next. */
export interface Segment {
  /** Media sequence number (RFC 8216 6.2.1): from 1, +1 per segment, never going down; the DASH $Number$. */
  readonly msn: number;
  /** e.g. `720p-a1b2c3-17.m4s`: the parts' bytes back to back. */
  readonly uri: string;
  readonly start: number;
  /** Sum of the parts' durations; grows while the segment is open. */
  readonly duration: number;
  readonly parts: readonly Part[];
  /** False while parts may still be appended (the live edge). */
  readonly complete: boolean;
  /**
   * While open: the duration it will have when it reaches the next line of
   * the keyframe grid, where it is due to close (LL-DASH lists the open
   * segment at this duration). Absent once complete.
   */
  readonly plannedDuration?: number;
  /** Wall clock of its first sample (EXT-X-PROGRAM-DATE-TIME). */
  readonly programDateTime: number;
  /** Discontinuity sequence it belongs to; a segment whose value differs from its predecessor's follows an EXT-X-DISCONTINUITY. */
  readonly discontinuity: number;
  /** The init segment (EXT-X-MAP, DASH initialization) its parts decode with. */
  readonly initUri: string;
}

/** One rendition: a video rung of the ladder, or the shared audio. */
export interface Rendition {
  /** Ladder rung name (`720p`) or `audio`. */
  readonly name: string;
  readonly kind: 'video' | 'audio';
  /** RFC 6381 codec string, e.g. `avc1.64001f`, `mp4a.40.2`. */
  readonly codecs: string;
  readonly timescale: number;
  /** Peak bits per second (the rung's budget, or measured if higher). */
  readonly bandwidth: number;
  /** Measured over the window's complete segments; undefined until one is complete. */
  readonly averageBandwidth: number | undefined;
  readonly width?: number;
  readonly height?: number;
  readonly frameRate?: number;
  readonly sampleRate?: number;
  readonly channels?: number;
  /** Oldest first; the last may be incomplete. */
  readonly segments: readonly Segment[];
  /**
   * The segment due after the last one, not begun yet: its msn, URI, start
   * and planned duration, as the last one's `plannedDuration` is worked out.
   * LL-DASH lists it ahead (dash.ts); absent once ended or before a segment.
   */
  readonly upcoming?: { readonly msn: number; readonly uri: string; readonly start: number; readonly duration: number };
}

/** One stream as the writers see it at one instant. */
export interface StreamSnapshot {
  readonly key: string;
  /** Nominal segment duration in seconds (the keyframe grid), e.g. 2. */
  readonly segmentSeconds: number;
  /** Nominal part duration in seconds, e.g. 0.5. */
  readonly partSeconds: number;
  /** Wall clock of stream time 0 (DASH availabilityStartTime). */
  readonly availabilityStartTime: number;
  /** Wall clock when this snapshot was taken (DASH publishTime). */
  readonly now: number;
  /** True once the publisher has gone for good: playlists get ENDLIST, the MPD turns static. */
  readonly ended: boolean;
  readonly video: readonly Rendition[];
  readonly audio: Rendition | undefined;
  /**
   * Stream time in seconds at which each discontinuity sequence began (the
   * earliest start of its first segment over the renditions), keyed by the
   * discontinuity value. A DASH Period's start must not change from one MPD
   * to the next (ISO/IEC 23009-1 5.3.2.1, 5.4.1); once a period's first
   * segment has left the window this is the only place it is known. Without
   * it the writers take the earliest start still in the window.
   */
  readonly discontinuityStarts?: ReadonlyMap<number, number>;
}
