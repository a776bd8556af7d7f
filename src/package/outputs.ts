import { createHash } from 'node:crypto';
import { mpd } from './dash.ts';
import { masterPlaylist, mediaPlaylist, playlistEnd, targetDuration } from './hls.ts';
import type { StreamPackager } from './stream-packager.ts';
import type { Rendition } from './types.ts';

/** A response body from memory (the shape src/http's StreamOutputs serves). */
export interface OutputResource {
  body: Buffer;
  contentType: string;
  cacheControl: string;
  etag: string;
  lastModified: number;
  status?: number;
  /**
   * A body still being made (LL-DASH's open segment): sent as it comes, with
   * chunked transfer and no length; `body` is empty then. Ends when the
   * segment closes, throws if it never does (the response must then be cut
   * short, so that no cache keeps it).
   */
  chunks?: AsyncIterable<Buffer>;
}

/** What a request brings besides its path: the playback token to carry into URIs, and where the time endpoint is. */
export interface OutputRequest {
  /** The query: `_HLS_msn`, `_HLS_part`, `_HLS_skip` (RFC 8216bis 6.2.5). */
  search?: URLSearchParams;
  /** `exp=…&sig=…` of a signed playback URL, appended to every URI of a generated playlist. */
  token: string | undefined;
  /** Absolute URL of the server's clock for DASH UTCTiming (`http://host:port/time`). */
  timeUrl: string;
}

/** Segments, parts and init segments never change under their URI (each carries the stream instance): cache for good. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Live playlists and manifests change every part: a CDN may hold them for a second at most. */
export const LIVE_PLAYLIST = 'public, max-age=1';
/** A blocking request's answer (its URL names the version it waited for). */
export const BLOCKED_PLAYLIST = 'public, max-age=60';
/** A 404 for media not produced yet: a CDN may hold it a second, no longer (the same URL will exist soon). */
export const NOT_YET = 'public, max-age=1';
/** A finished stream's playlists no longer change. */
export const ENDED_PLAYLIST = 'public, max-age=60';

/** Settings of the outputs. */
export interface OutputsOptions {
  /** LL-HLS tags and blocking reloads, LL-DASH attributes. */
  lowLatency: boolean;
}

/** A blocking request may be held this many target durations before 503 (RFC 8216bis 6.2.5.2 suggests three). */
const BLOCK_TARGET_DURATIONS = 3;
/** How far ahead of the last segment a blocking _HLS_msn may point before it is refused with 400 (6.2.5.2: two). */
const MSN_ADVANCE_LIMIT = 2;

/** Something to wait on (an adapter gives real timers; tests a fake). */
export interface Waiter {
  /** Resolves once `ready()` holds, checked after each change of `packager`, or with false after `timeoutMs`. */
  until(packager: StreamPackager, ready: () => boolean, timeoutMs: number): Promise<boolean>;
}

/** Waits with setTimeout and the packager's change notifications. */
export const TIMER_WAITER: Waiter = {
  until(packager, ready, timeoutMs) {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        off();
        resolve(ok);
      };
      const off = packager.onChange(() => {
        if (ready() || packager.ended) done(ready());
      });
      const timer = setTimeout(() => done(ready()), timeoutMs);
    });
  },
};

const M3U8 = 'application/vnd.apple.mpegurl';
const MPD = 'application/dash+xml';

/**
 * Every live (and lingering) stream's packager by key, answering the HTTP
 * paths under `/streams/<key>/`: `master.m3u8`, `<rendition>.m3u8`,
 * `manifest.mpd`, and the media URIs the packager hands out. Playlists and
 * the manifest are written from the packager's state on each request (RFC
 * 8216 and ISO/IEC 23009-1 text, see hls.ts and dash.ts), never from files.
 */
export class PackagedOutputs {
  readonly #streams = new Map<string, StreamPackager>();
  readonly #now: () => number;
  readonly #options: OutputsOptions;
  readonly #waiter: Waiter;

  constructor(options: OutputsOptions = { lowLatency: false }, now: () => number = Date.now, waiter: Waiter = TIMER_WAITER) {
    this.#options = options;
    this.#now = now;
    this.#waiter = waiter;
  }

  /**
   * resource(), but first waits where LL-HLS asks it to (RFC 8216bis 6.2.5.2):
   * a media playlist with `_HLS_msn` (and `_HLS_part`) is held until that
   * segment (part) exists, at most three target durations (then 503); one out
   * of range is 400. A part URI not yet produced, the preload hint, is held
   * the same way until it exists.
   */
  async request(key: string, file: string, request: OutputRequest): Promise<OutputResource | undefined> {
    const packager = this.#streams.get(key);
    if (packager === undefined || !this.#options.lowLatency) return this.resource(key, file, request);
    const partUri = /^(.+)-[^-]+-(\d+)\.(\d+)\.m4s$/.exec(file);
    if (partUri !== null && packager.resource(file) === undefined) {
      const hinted = packager.nextPartUri(partUri[1]!);
      if (hinted !== file) return plainStatus(404, `${file} is not the next part`, this.#now(), NOT_YET);
      await this.#waiter.until(packager, () => packager.resource(file) !== undefined, this.#blockMs(packager));
      return this.resource(key, file, request);
    }
    const segmentUri = /^(.+)-[^-]+-\d+\.m4s$/.exec(file);
    if (segmentUri !== null && packager.resource(file) === undefined) return this.#growingSegment(packager, segmentUri[1]!, file);
    const msnParam = request.search?.get('_HLS_msn');
    if (msnParam == null || !file.endsWith('.m3u8') || file === 'master.m3u8' || !packager.playable) return this.resource(key, file, request);
    const partParam = request.search?.get('_HLS_part');
    const msn = Number(msnParam);
    const part = partParam == null ? undefined : Number(partParam);
    if (!Number.isInteger(msn) || msn < 0 || (part !== undefined && (!Number.isInteger(part) || part < 0))) {
      return plainStatus(400, '_HLS_msn and _HLS_part must be non-negative integers', this.#now());
    }
    const name = file.slice(0, -'.m3u8'.length);
    const rendition = () => {
      const snap = packager.snapshot(this.#now());
      return [...snap.video, ...(snap.audio ? [snap.audio] : [])].find((r) => r.name === name);
    };
    const now = rendition();
    if (now === undefined) return undefined;
    const lastMsn = now.segments.at(-1)?.msn ?? 0;
    if (msn > lastMsn + MSN_ADVANCE_LIMIT) {
      return plainStatus(400, `_HLS_msn=${msn} is more than ${MSN_ADVANCE_LIMIT} segments past the last one (${lastMsn})`, this.#now());
    }
    const reached = (): boolean => {
      const r = rendition();
      if (r === undefined) return true;
      if (part === undefined) return r.segments.some((s) => s.msn > msn || (s.msn === msn && s.complete));
      const end = playlistEnd(r);
      return end !== undefined && (end.msn > msn || (end.msn === msn && end.part >= part));
    };
    const ok = await this.#waiter.until(packager, reached, this.#blockMs(packager));
    if (!ok && !packager.ended) return plainStatus(503, `_HLS_msn=${msn}${part === undefined ? '' : ` _HLS_part=${part}`} not available in time`, this.#now());
    const answer = this.resource(key, file, request);
    // The URL names the playlist version it waited for: caches may keep it (Apple's LL-HLS guidance).
    return answer === undefined ? undefined : { ...answer, cacheControl: BLOCKED_PLAYLIST };
  }

  /**
   * LL-DASH: a segment not complete yet, sent as its parts (CMAF chunks)
   * arrive, with chunked transfer (DASH-IF IOP 9.X.4.5): the open segment at
   * once, from its first part; the next one (not begun) once it begins, held
   * as a blocking reload is; anything else is a 404 a cache may keep a second.
   * The body ends when the segment closes and equals the complete segment.
   */
  async #growingSegment(packager: StreamPackager, track: string, file: string): Promise<OutputResource> {
    const blockMs = this.#blockMs(packager);
    if (packager.segmentProgress(file) === undefined) {
      // LL-DASH lists the next segment ahead in the current period: if a new run (a reconnect, an
      // ffmpeg restart) begins it instead, it belongs to the next period, with another init segment.
      const period = packager.lastDiscontinuity(track);
      const begun = packager.nextSegmentUri(track) === file
        && await this.#waiter.until(packager, () => packager.segmentProgress(file) !== undefined, blockMs);
      if (begun && period !== undefined && packager.segmentProgress(file)?.discontinuity !== period) {
        return plainStatus(404, `${file} began in a later period than the one that listed it`, this.#now(), 'no-store');
      }
      const complete = packager.resource(file);
      if (complete !== undefined) return this.#media(file, complete);
      if (!begun) return plainStatus(404, `${file} is not produced yet`, this.#now(), NOT_YET);
    }
    const waiter = this.#waiter;
    async function* parts(): AsyncGenerator<Buffer> {
      let sent = 0;
      for (;;) {
        const progress = packager.segmentProgress(file);
        if (progress === undefined) throw new Error(`${file} left the store before it was complete`);
        while (sent < progress.parts.length) yield progress.parts[sent++]!;
        if (progress.complete) return;
        const grown = () => {
          const p = packager.segmentProgress(file);
          return p === undefined || p.complete || p.parts.length > sent;
        };
        if (!(await waiter.until(packager, grown, blockMs))) throw new Error(`${file}: no part for ${blockMs} ms`);
      }
    }
    return { ...this.#media(file, Buffer.alloc(0)), etag: '', chunks: parts() };
  }

  #media(file: string, body: Buffer): OutputResource {
    return { body, contentType: file.endsWith('.mp4') ? 'video/mp4' : 'video/iso.segment', cacheControl: IMMUTABLE, etag: `"${file}-${body.length}"`, lastModified: this.#now() };
  }

  #blockMs(packager: StreamPackager): number {
    const snap = packager.snapshot(this.#now());
    const r = snap.video[0] ?? snap.audio;
    return BLOCK_TARGET_DURATIONS * (r === undefined ? snap.segmentSeconds : targetDuration(snap, r)) * 1000;
  }

  /** Serves `packager` under its key, replacing whatever was there. */
  set(packager: StreamPackager): void {
    this.#streams.set(packager.key, packager);
  }

  /** Stops serving `packager` (only if it is still the one under its key). */
  delete(packager: StreamPackager): void {
    if (this.#streams.get(packager.key) === packager) this.#streams.delete(packager.key);
  }

  get(key: string): StreamPackager | undefined {
    return this.#streams.get(key);
  }

  get size(): number {
    return this.#streams.size;
  }

  /** The resource at `file` of stream `key`, or undefined (404). */
  resource(key: string, file: string, request: OutputRequest): OutputResource | undefined {
    const packager = this.#streams.get(key);
    if (packager === undefined) return undefined;
    const now = this.#now();
    if (file.endsWith('.m4s') || file.endsWith('.mp4')) {
      const body = packager.resource(file);
      return body === undefined ? undefined : this.#media(file, body);
    }
    // Nothing is announced before every track has a segment: players get 404 and retry, as for a key not yet live.
    if (!packager.playable) return undefined;
    const snapshot = packager.snapshot(now);
    const query = request.token;
    let text: string | undefined;
    let contentType = M3U8;
    if (file === 'master.m3u8') {
      text = masterPlaylist(snapshot, query === undefined ? {} : { query });
    } else if (file === 'manifest.mpd') {
      text = mpd(snapshot, {
        timeUrl: request.timeUrl,
        timeShiftBufferSeconds: packager.windowSeconds,
        lowLatency: this.#options.lowLatency,
        ...(query === undefined ? {} : { query }),
      });
      contentType = MPD;
    } else if (file.endsWith('.m3u8')) {
      const rendition = renditionOf([...snapshot.video, ...(snapshot.audio ? [snapshot.audio] : [])], file.slice(0, -'.m3u8'.length));
      if (rendition === undefined) return undefined;
      const lowLatency = this.#options.lowLatency;
      const nextPartUri = lowLatency ? packager.nextPartUri(rendition.name) : undefined;
      text = mediaPlaylist(snapshot, rendition, {
        lowLatency,
        skip: request.search?.get('_HLS_skip') === 'YES' || request.search?.get('_HLS_skip') === 'v2',
        ...(nextPartUri === undefined ? {} : { nextPartUri }),
        ...(query === undefined ? {} : { query }),
      });
    }
    if (text === undefined) return undefined;
    const body = Buffer.from(text, 'utf8');
    return {
      body,
      contentType,
      cacheControl: snapshot.ended ? ENDED_PLAYLIST : LIVE_PLAYLIST,
      etag: `W/"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`,
      lastModified: now,
    };
  }
}

function plainStatus(status: number, text: string, now: number, cacheControl = 'no-cache'): OutputResource {
  return { status, body: Buffer.from(`${text}\n`), contentType: 'text/plain; charset=utf-8', cacheControl, etag: '', lastModified: now };
}

function renditionOf(renditions: readonly Rendition[], name: string): Rendition | undefined {
  return renditions.find((r) => r.name === name);
}
