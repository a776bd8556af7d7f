import { createHash } from 'node:crypto';
import { mpd } from './dash.ts';
import { masterPlaylist, mediaPlaylist } from './hls.ts';
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
}

/** What a request brings besides its path: the playback token to carry into URIs, and where the time endpoint is. */
export interface OutputRequest {
  /** `exp=…&sig=…` of a signed playback URL, appended to every URI of a generated playlist. */
  token: string | undefined;
  /** Absolute URL of the server's clock for DASH UTCTiming (`http://host:port/time`). */
  timeUrl: string;
}

/** Segments, parts and init segments never change under their URI (each carries the stream instance): cache for good. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Live playlists and manifests change every part: a CDN may hold them for a second at most. */
export const LIVE_PLAYLIST = 'public, max-age=1';
/** A finished stream's playlists no longer change. */
export const ENDED_PLAYLIST = 'public, max-age=60';

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

  constructor(now: () => number = Date.now) {
    this.#now = now;
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
      if (body === undefined) return undefined;
      return { body, contentType: file.endsWith('.mp4') ? 'video/mp4' : 'video/iso.segment', cacheControl: IMMUTABLE, etag: `"${file}-${body.length}"`, lastModified: now };
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
      text = mpd(snapshot, { timeUrl: request.timeUrl, ...(query === undefined ? {} : { query }) });
      contentType = MPD;
    } else if (file.endsWith('.m3u8')) {
      const rendition = renditionOf([...snapshot.video, ...(snapshot.audio ? [snapshot.audio] : [])], file.slice(0, -'.m3u8'.length));
      if (rendition === undefined) return undefined;
      text = mediaPlaylist(snapshot, rendition, query === undefined ? {} : { query });
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

function renditionOf(renditions: readonly Rendition[], name: string): Rendition | undefined {
  return renditions.find((r) => r.name === name);
}
