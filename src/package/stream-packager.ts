import type { Part, Rendition, Segment, StreamSnapshot } from './types.ts';

/** What one encoder output's init segment says of its track (parsed from its moov). */
export interface TrackInit {
  readonly bytes: Buffer;
  readonly codecs: string;
  readonly timescale: number;
  readonly width?: number;
  readonly height?: number;
  readonly sampleRate?: number;
  readonly channels?: number;
}

/** One moof+mdat from an encoder output, with the times its moof states (on that run's clock). */
export interface FragmentIn {
  readonly bytes: Buffer;
  /** tfdt baseMediaDecodeTime, in the track's timescale, as the encoder wrote it. */
  readonly baseDecodeTime: number;
  /** Sum of its sample durations. */
  readonly duration: number;
  /** Its first sample is a sync sample. */
  readonly independent: boolean;
}

/** A track of the stream: a video rung or the audio, declared before its first run. */
export interface TrackSpec {
  readonly name: string;
  readonly kind: 'video' | 'audio';
  /** Budget in bits per second; BANDWIDTH is the larger of it and the measured peak. */
  readonly bandwidth: number;
  readonly frameRate?: number;
}

/** Packager settings. */
export interface PackagerOptions {
  /** Nominal segment duration in seconds: the keyframe grid. */
  readonly segmentSeconds: number;
  /** Nominal part (CMAF chunk) duration in seconds. */
  readonly partSeconds: number;
  /** Complete segments listed in playlists and the manifest. */
  readonly windowSegments: number;
  /** Complete segments kept past the window, still served, for clients a little behind. */
  readonly extraSegments: number;
  /** Most bytes of media held for the stream; past it the oldest segments go first, down to two per track. */
  readonly maxBytes: number;
  /** Unique to this stream instance in the process (e.g. random hex): the first element of every media URI. */
  readonly instanceId: string;
  /** Rewrites a fragment's tfdt (and sequence number) so that it states the stream timeline's time. */
  readonly rebaseFragment: (bytes: Buffer, baseDecodeTime: number, sequence: number) => Buffer;
}

/** What the stream holds now, for the bench and the metrics. */
export interface PackagerFigures {
  readonly bytes: number;
  readonly segments: number;
  readonly parts: number;
  readonly discontinuities: number;
  readonly droppedForMemory: number;
}

/** A segment or part while the packager holds it. */
interface HeldSegment {
  msn: number;
  uri: string;
  start: number;
  duration: number;
  parts: Part[];
  complete: boolean;
  programDateTime: number;
  discontinuity: number;
  initUri: string;
  bytes: number;
}

/** Per-track state. */
class Track {
  readonly spec: TrackSpec;
  /** The latest init segment; `awaitingInit` while the current run has not sent its own. */
  init: TrackInit | undefined;
  awaitingInit = true;
  /** False once a run was begun without this track (the source lost it or was re-planned): it is no longer listed or served. */
  active = true;
  initUri = '';
  /** Stream-timeline time where the current run's encoder time 0 falls, in this track's timescale. */
  runOffset = 0;
  /** This run has delivered no fragment yet. */
  runFresh = true;
  /** Where the next segment is due on the grid: a sync sample at or after it (less a tolerance) cuts. */
  nextCut = 0;
  segments: HeldSegment[] = [];
  nextMsn = 1;
  /** End of the last fragment, on the stream timeline. */
  end = 0;
  sequence = 1;
  constructor(spec: TrackSpec) {
    this.spec = spec;
  }
  get name(): string {
    return this.spec.name;
  }
  /** The same name under a new spec (a re-planned run): its segments, numbering and timeline go on. */
  static resumed(from: Track, spec: TrackSpec): Track {
    const track = new Track(spec);
    track.init = from.init;
    track.initUri = from.initUri;
    track.runOffset = from.runOffset;
    track.nextCut = from.nextCut;
    track.segments = from.segments;
    track.nextMsn = from.nextMsn;
    track.end = from.end;
    track.sequence = from.sequence;
    return track;
  }
  get open(): HeldSegment | undefined {
    const last = this.segments.at(-1);
    return last !== undefined && !last.complete ? last : undefined;
  }
}

/**
 * One stream's output, packaged in memory from its encoders' CMAF outputs:
 * init segments, segments and the parts (CMAF chunks) they are made of, on a
 * timeline the packager owns. Pure: no timers, sockets or files; the caller
 * passes the wall clock (`now`, ms) with every call that needs one.
 *
 * The timeline: each encoder run (an ffmpeg process) starts its clock near 0.
 * The packager maps run time to stream time with a per-run offset placed at or
 * after the end of everything already packaged, and no earlier than the wall
 * clock says (so a run after a gap leaves the gap, and DASH availability
 * stays true). Every run after the first starts a new discontinuity: a new
 * init segment, EXT-X-DISCONTINUITY, a new DASH Period. Media sequence numbers
 * and URIs continue, so the sequence never goes down and no URI is reused.
 */
export class StreamPackager {
  readonly key: string;
  readonly #options: PackagerOptions;
  readonly #tracks = new Map<string, Track>();
  /** uri → bytes for init segments, segments (assembled on request) and parts. */
  readonly #inits = new Map<string, Buffer>();
  #availabilityStartTime: number | undefined;
  /** Stream time (s) of the current run's encoder time 0; set by the run's first fragment of any track. */
  #runOffsetSeconds: number | undefined;
  #discontinuity = 0;
  /** Stream time (s) where each discontinuity's first segment (of any track) starts: DASH Period starts. */
  readonly #discontinuityStarts = new Map<number, number>();
  #runs = 0;
  #ended = false;
  #bytes = 0;
  #droppedForMemory = 0;
  /** Called after every change a blocked playlist request may wait for. */
  #listeners = new Set<() => void>();

  constructor(key: string, tracks: readonly TrackSpec[], options: PackagerOptions) {
    this.key = key;
    this.#options = options;
    for (const spec of tracks) this.#tracks.set(spec.name, new Track(spec));
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The window, in seconds: the segments listed, at their nominal duration. */
  get windowSeconds(): number {
    return this.#options.windowSegments * this.#options.segmentSeconds;
  }

  /** Runs started so far (encoder starts). */
  get runs(): number {
    return this.#runs;
  }

  /**
   * An encoder run begins: whatever it delivers maps to a fresh stretch of the
   * stream timeline, after a discontinuity unless it is the first run. Open
   * segments of the run before are closed as they are. Returns the run's
   * number: init segments and fragments name it, and those of an earlier run
   * (an ffmpeg still finishing after a quick reconnect) are ignored.
   * With `tracks`, the run carries exactly those: a track of an earlier run
   * that is not among them is retired (its segments dropped, no longer listed
   * or served); a retired track named again continues its numbering, so no
   * URI is ever reused.
   */
  beginRun(tracks?: readonly TrackSpec[]): number {
    if (this.#ended) throw new Error(`stream ${this.key} has ended`);
    if (this.#runs > 0) {
      this.#closeOpenSegments();
      this.#discontinuity++;
    }
    if (tracks !== undefined) {
      const names = new Set(tracks.map((t) => t.name));
      for (const track of this.#tracks.values()) {
        if (names.has(track.name) || !track.active) continue;
        track.active = false;
        for (const s of track.segments) this.#bytes -= s.bytes;
        track.segments = [];
        track.init = undefined;
        track.initUri = '';
      }
      for (const spec of tracks) {
        const track = this.#tracks.get(spec.name);
        if (track === undefined) this.#tracks.set(spec.name, new Track(spec));
        else if (!track.active || track.spec !== spec) this.#tracks.set(spec.name, Track.resumed(track, spec));
      }
      this.#dropUnusedInits();
    }
    this.#runs++;
    this.#runOffsetSeconds = undefined;
    for (const track of this.#tracks.values()) {
      track.runFresh = true;
      track.awaitingInit = true;
    }
    return this.#runs;
  }

  /** The init segment of a track for run `run` (ISO/IEC 23000-19 7.3.2.2); ignored unless it is the current run. */
  init(trackName: string, init: TrackInit, run = this.#runs): void {
    if (run !== this.#runs || this.#ended) return;
    const track = this.#track(trackName);
    track.init = init;
    track.awaitingInit = false;
    track.initUri = `${this.#prefix(track)}-init${this.#discontinuity}.mp4`;
    this.#inits.set(track.initUri, init.bytes);
  }

  /** One fragment of a track of run `run`, arrived at `now`; ignored unless it is the current run. */
  fragment(trackName: string, fragment: FragmentIn, now: number, run = this.#runs): void {
    if (run !== this.#runs) return;
    const track = this.#track(trackName);
    const init = track.init;
    if (init === undefined || track.awaitingInit) throw new Error(`track ${trackName}: fragment before its init segment`);
    if (this.#ended) return;
    const ts = init.timescale;
    if (track.runFresh) {
      track.runFresh = false;
      track.runOffset = Math.round(this.#runOffset(fragment, ts, now) * ts);
    }
    let start = track.runOffset + fragment.baseDecodeTime;
    if (start < track.end) {
      // The encoder's clock went back within a run: keep the timeline monotonic.
      track.runOffset += track.end - start;
      start = track.end;
    }
    // Until a playlist can be served, stream time 0's wall clock follows the earliest arrival: the first
    // fragments come late (ffmpeg probing its input, then catching up), and an availabilityStartTime set by
    // them alone would put DASH availability and PROGRAM-DATE-TIME about a second behind the media.
    if (!this.playable) this.#refineAvailabilityStart(now - ((start + fragment.duration) / ts) * 1000);
    let open = track.open;
    if (open !== undefined && fragment.independent && start >= track.nextCut - this.#tolerance(track, ts)) {
      open.complete = true;
      open = undefined;
    }
    if (open === undefined) {
      if (track.spec.kind === 'video' && !fragment.independent) return; // a segment must start with a sync sample
      // The grid line after this start: the first segment of a run sets it; later ones step it, skipping lines with no sync sample.
      if (track.segments.at(-1)?.discontinuity !== this.#discontinuity || track.nextCut === 0) track.nextCut = start;
      track.nextCut = this.#lineAfter(track, track.nextCut, start, ts);
      const seconds = start / ts;
      const known = this.#discontinuityStarts.get(this.#discontinuity);
      if (known === undefined || seconds < known) this.#discontinuityStarts.set(this.#discontinuity, seconds);
      const msn = track.nextMsn++;
      open = {
        msn,
        uri: `${this.#prefix(track)}-${msn}.m4s`,
        start,
        duration: 0,
        parts: [],
        complete: false,
        programDateTime: this.#availabilityStartTime! + (start / ts) * 1000,
        discontinuity: this.#discontinuity,
        initUri: track.initUri,
        bytes: 0,
      };
      track.segments.push(open);
    }
    const bytes = this.#options.rebaseFragment(fragment.bytes, start, track.sequence++);
    open.parts.push({
      index: open.parts.length,
      uri: `${open.uri.slice(0, -'.m4s'.length)}.${open.parts.length}.m4s`,
      start,
      duration: fragment.duration,
      independent: fragment.independent,
      bytes,
    });
    open.duration = start + fragment.duration - open.start;
    open.bytes += bytes.length;
    this.#bytes += bytes.length;
    track.end = start + fragment.duration;
    // Reaching the grid line closes the segment now rather than when the next fragment comes
    // (a part later): keyframes are forced on the grid, so what follows starts a segment.
    // Video only within half a frame of the line; audio, whose every sample is a sync sample, as for a cut.
    const early = track.spec.kind === 'video' ? this.#halfFrame(track, ts) : this.#tolerance(track, ts);
    if (track.end >= track.nextCut - early) open.complete = true;
    this.#trim();
    this.#notify();
  }

  /** The stream has ended for good: open segments close, playlists get ENDLIST, the MPD turns static. */
  end(): void {
    if (this.#ended) return;
    this.#closeOpenSegments();
    this.#ended = true;
    this.#notify();
  }

  /** Calls `listener` after every change (a part, a segment, the end); returns its removal. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The bytes served at `uri` (an init segment, a segment or a part), or undefined. */
  resource(uri: string): Buffer | undefined {
    const init = this.#inits.get(uri);
    if (init !== undefined) return init;
    const m = /^(.+)-([^-]+)-(\d+)(?:\.(\d+))?\.m4s$/.exec(uri);
    if (m === null || m[2] !== this.#options.instanceId) return undefined;
    const track = this.#tracks.get(m[1]!);
    if (track === undefined || !track.active) return undefined;
    const msn = Number(m[3]);
    const first = track.segments[0];
    const segment = first === undefined ? undefined : track.segments[msn - first.msn];
    if (segment === undefined || segment.msn !== msn) return undefined;
    if (m[4] !== undefined) return segment.parts[Number(m[4])]?.bytes;
    if (!segment.complete) return undefined; // served once whole: its bytes never change after that
    return Buffer.concat(segment.parts.map((p) => p.bytes), segment.bytes);
  }

  /**
   * The parts so far of the segment at `uri` (`<track>-<instance>-<msn>.m4s`)
   * and whether it is complete, or undefined when the store does not hold it
   * (not begun, or gone). The arrays are copies: LL-DASH serves the open
   * segment from these as they grow (chunked transfer).
   */
  segmentProgress(uri: string): { readonly parts: readonly Buffer[]; readonly complete: boolean; readonly discontinuity: number } | undefined {
    const m = /^(.+)-([^-]+)-(\d+)\.m4s$/.exec(uri);
    if (m === null || m[2] !== this.#options.instanceId) return undefined;
    const track = this.#tracks.get(m[1]!);
    const first = track?.segments[0];
    if (track === undefined || first === undefined) return undefined;
    const segment = track.segments[Number(m[3]) - first.msn];
    if (segment === undefined || segment.msn !== Number(m[3])) return undefined;
    return { parts: segment.parts.map((p) => p.bytes), complete: segment.complete, discontinuity: segment.discontinuity };
  }

  /** The discontinuity value of the last segment of `trackName` (the period LL-DASH lists its next segment in), if any. */
  lastDiscontinuity(trackName: string): number | undefined {
    return this.#tracks.get(trackName)?.segments.at(-1)?.discontinuity;
  }

  /** The URI the next segment of `trackName` will have (the one after the open one), or undefined once ended. */
  nextSegmentUri(trackName: string): string | undefined {
    const track = this.#tracks.get(trackName);
    if (track === undefined || this.#ended) return undefined;
    return `${this.#prefix(track)}-${track.nextMsn}.m4s`;
  }

  /** The stream as the playlist and manifest writers see it now. */
  snapshot(now: number): StreamSnapshot {
    const video: Rendition[] = [];
    let audio: Rendition | undefined;
    for (const track of this.#tracks.values()) {
      if (!track.active || (track.init === undefined && track.segments.length === 0)) continue;
      const rendition = this.#rendition(track);
      if (track.spec.kind === 'audio') audio = rendition;
      else video.push(rendition);
    }
    video.sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || b.bandwidth - a.bandwidth);
    return {
      key: this.key,
      segmentSeconds: this.#options.segmentSeconds,
      partSeconds: this.#options.partSeconds,
      availabilityStartTime: this.#availabilityStartTime ?? now,
      now,
      ended: this.#ended,
      video,
      audio,
      discontinuityStarts: new Map(this.#discontinuityStarts),
    };
  }

  /**
   * The URI of the part `trackName` will produce next (EXT-X-PRELOAD-HINT):
   * the next part of its open segment, or part 0 of the next segment once the
   * open one reaches the grid line.
   */
  nextPartUri(trackName: string): string | undefined {
    const track = this.#tracks.get(trackName);
    if (track === undefined || !track.active || this.#ended) return undefined;
    const open = track.open;
    const ts = track.init?.timescale;
    // The next fragment starts a new segment when it falls on the grid line (keyframes are forced there).
    const cuts = open === undefined || ts === undefined || open.start + open.duration >= track.nextCut - this.#tolerance(track, ts);
    if (!cuts) return `${this.#prefix(track)}-${open.msn}.${open.parts.length}.m4s`;
    return `${this.#prefix(track)}-${track.nextMsn}.0.m4s`;
  }

  /** True once every declared track has a complete segment: the master playlist can be served. */
  get playable(): boolean {
    let active = 0;
    for (const track of this.#tracks.values()) {
      if (!track.active) continue;
      active++;
      if (!track.segments.some((s) => s.complete)) return false;
    }
    return active > 0;
  }

  figures(): PackagerFigures {
    let segments = 0;
    let parts = 0;
    for (const track of this.#tracks.values()) {
      segments += track.segments.length;
      for (const s of track.segments) parts += s.parts.length;
    }
    return { bytes: this.#bytes, segments, parts, discontinuities: this.#discontinuity, droppedForMemory: this.#droppedForMemory };
  }

  #rendition(track: Track): Rendition {
    const init = track.init;
    const ts = init?.timescale ?? 1;
    const listed = this.#listed(track);
    let peak = 0;
    let bits = 0;
    let ticks = 0;
    for (const s of listed) {
      if (!s.complete || s.duration <= 0) continue;
      peak = Math.max(peak, (s.bytes * 8 * ts) / s.duration);
      bits += s.bytes * 8;
      ticks += s.duration;
    }
    return {
      name: track.spec.name,
      kind: track.spec.kind,
      codecs: init?.codecs ?? '',
      timescale: ts,
      bandwidth: Math.round(Math.max(track.spec.bandwidth, peak)),
      averageBandwidth: ticks > 0 ? Math.round((bits * ts) / ticks) : undefined,
      ...(init?.width !== undefined ? { width: init.width } : {}),
      ...(init?.height !== undefined ? { height: init.height } : {}),
      ...(track.spec.frameRate !== undefined ? { frameRate: track.spec.frameRate } : {}),
      ...(init?.sampleRate !== undefined ? { sampleRate: init.sampleRate } : {}),
      ...(init?.channels !== undefined ? { channels: init.channels } : {}),
      segments: listed.map((s): Segment => (s.complete
        ? { ...s, parts: s.parts.slice() }
        : { ...s, parts: s.parts.slice(), plannedDuration: this.#plannedEnd(track, s, ts) - s.start })),
      ...this.#upcoming(track, ts),
    };
  }

  /**
   * The segment after the last one, before it begins: it starts where the last
   * one ends (or is due to end, while open) and is planned as an open one is.
   */
  #upcoming(track: Track, ts: number): Pick<Rendition, 'upcoming'> {
    const last = track.segments.at(-1);
    if (last === undefined || this.#ended || !track.active || last.discontinuity !== this.#discontinuity) return {};
    const start = last.complete ? last.start + last.duration : this.#plannedEnd(track, last, ts);
    const end = this.#closingEnd(track, start, this.#lineAfter(track, track.nextCut, start, ts), last.parts.at(-1)?.duration ?? 0, ts);
    const msn = track.nextMsn;
    return { upcoming: { msn, uri: `${this.#prefix(track)}-${msn}.m4s`, start, duration: end - start } };
  }

  /**
   * Where the open segment `open` is due to end: for video the grid line
   * (keyframes are forced onto it); for audio the end of the first fragment
   * that reaches the closing threshold `fragment()` applies, its fragments
   * assumed as long as its last (AAC frames do not divide the grid: 0.5 s
   * parts are 0.512 s at 48 kHz), so the duration LL-DASH announces is the
   * one the segment will have and the timeline does not move under players.
   */
  #plannedEnd(track: Track, open: HeldSegment, ts: number): number {
    return this.#closingEnd(track, open.start + open.duration, track.nextCut, open.parts.at(-1)?.duration ?? 0, ts);
  }

  /** Where a segment that has reached `end`, due to be cut at grid line `cut`, closes, its fragments `fragment` long (see #plannedEnd). */
  #closingEnd(track: Track, end: number, cut: number, fragment: number, ts: number): number {
    if (track.spec.kind === 'video' || fragment <= 0) return Math.max(end, cut);
    const threshold = cut - this.#tolerance(track, ts);
    return end >= threshold ? end : end + Math.ceil((threshold - end) / fragment) * fragment;
  }

  /** The first grid line from `line` on (stepping a segment) that a segment starting at `start` is cut at. */
  #lineAfter(track: Track, line: number, start: number, ts: number): number {
    const grid = this.#options.segmentSeconds * ts;
    const tolerance = this.#tolerance(track, ts);
    while (line <= start + tolerance) line += grid;
    return line;
  }

  /** The segments a playlist lists: the last windowSegments complete ones and the open one. */
  #listed(track: Track): HeldSegment[] {
    const complete = track.segments.filter((s) => s.complete);
    const from = complete.at(-this.#options.windowSegments);
    const firstIndex = from === undefined ? 0 : track.segments.indexOf(from);
    return track.segments.slice(firstIndex);
  }

  /** Half a part, at least: how early a sync sample may fall before the grid line and still cut there. */
  #tolerance(track: Track, ts: number): number {
    const frame = track.spec.frameRate ? ts / track.spec.frameRate : 0;
    return Math.max(frame, (this.#options.partSeconds * ts) / 2);
  }

  /**
   * The current run's offset (s), fixed by its first fragment of any track so
   * that audio and video keep the run's own alignment: the first run's clock is
   * the stream's; a later run starts no earlier than the end of everything
   * packaged, nor than the wall clock since availabilityStartTime allows (a
   * gap in the source stays a gap, and DASH availability stays true).
   */
  #runOffset(first: FragmentIn, ts: number, now: number): number {
    if (this.#runOffsetSeconds !== undefined) return this.#runOffsetSeconds;
    const startSeconds = first.baseDecodeTime / ts;
    const endSeconds = (first.baseDecodeTime + first.duration) / ts;
    if (this.#availabilityStartTime === undefined) {
      this.#availabilityStartTime = now - endSeconds * 1000;
      this.#runOffsetSeconds = 0;
    } else {
      const wall = (now - this.#availabilityStartTime) / 1000 - (endSeconds - startSeconds);
      this.#runOffsetSeconds = Math.max(this.#timelineEndSeconds(), wall) - startSeconds;
    }
    return this.#runOffsetSeconds;
  }

  /** An earlier wall clock for stream time 0 (never a later one), carried into the program date-times held. */
  #refineAvailabilityStart(candidate: number): void {
    if (this.#availabilityStartTime === undefined || candidate >= this.#availabilityStartTime) return;
    this.#availabilityStartTime = candidate;
    for (const track of this.#tracks.values()) {
      const ts = track.init?.timescale;
      if (ts !== undefined) for (const s of track.segments) s.programDateTime = candidate + (s.start / ts) * 1000;
    }
  }

  #halfFrame(track: Track, ts: number): number {
    return track.spec.frameRate ? ts / track.spec.frameRate / 2 : 1;
  }

  #timelineEndSeconds(): number {
    let end = 0;
    for (const track of this.#tracks.values()) {
      const ts = track.init?.timescale;
      if (ts !== undefined && track.end > 0) end = Math.max(end, track.end / ts);
    }
    return end;
  }

  #closeOpenSegments(): void {
    for (const track of this.#tracks.values()) {
      const open = track.open;
      if (open === undefined) continue;
      if (open.parts.length === 0) track.segments.pop();
      else open.complete = true;
    }
  }

  /** Drops segments past the window and its extra, then, over the byte bound, the oldest of any track. */
  #trim(): void {
    const keep = this.#options.windowSegments + this.#options.extraSegments;
    for (const track of this.#tracks.values()) {
      while (track.segments.filter((s) => s.complete).length > keep) this.#dropOldest(track);
    }
    while (this.#bytes > this.#options.maxBytes) {
      let victim: Track | undefined;
      for (const track of this.#tracks.values()) {
        if (track.segments.length <= 2) continue;
        if (victim === undefined || track.segments[0]!.bytes > victim.segments[0]!.bytes) victim = track;
      }
      if (victim === undefined) break;
      this.#dropOldest(victim);
      this.#droppedForMemory++;
    }
    this.#dropUnusedInits();
  }

  #dropOldest(track: Track): void {
    const gone = track.segments.shift();
    if (gone !== undefined) this.#bytes -= gone.bytes;
  }

  #dropUnusedInits(): void {
    if (this.#inits.size <= this.#tracks.size) return;
    const used = new Set<string>();
    for (const track of this.#tracks.values()) {
      used.add(track.initUri);
      for (const s of track.segments) used.add(s.initUri);
    }
    for (const uri of this.#inits.keys()) if (!used.has(uri)) this.#inits.delete(uri);
    let oldest = this.#discontinuity;
    for (const track of this.#tracks.values()) oldest = Math.min(oldest, track.segments[0]?.discontinuity ?? oldest);
    for (const d of this.#discontinuityStarts.keys()) if (d < oldest) this.#discontinuityStarts.delete(d);
  }

  /** `<rendition>-<instance>`: every URI of a track starts so (flat names: one path element each). */
  #prefix(track: Track): string {
    return `${track.spec.name}-${this.#options.instanceId}`;
  }

  #track(name: string): Track {
    const track = this.#tracks.get(name);
    if (track === undefined) throw new Error(`stream ${this.key} has no track ${name}`);
    return track;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
