import { createHash } from 'node:crypto';
import type { OutputRequestInfo, StreamOutputs, StreamResource } from '../../src/http/http-server.ts';
import { mediaTypeOf } from '../../src/http/media-type.ts';
import { IMMUTABLE, LIVE_PLAYLIST } from '../../src/package/outputs.ts';

/**
 * The HTTP server's store, as fixed bodies by `key/file`: what the packager's
 * store would answer, with its content types, caching (media immutable,
 * playlists a second) and a strong ETag from the body. Records every request.
 */
export class MemoryOutputs implements StreamOutputs {
  readonly calls: { key: string; file: string; info: OutputRequestInfo }[] = [];
  readonly #bodies = new Map<string, StreamResource>();

  /** Serves `body` at `/streams/<key>/<file>` (and under `dash/`), with `fields` over the defaults. */
  set(key: string, file: string, body: string | Buffer, fields: Partial<StreamResource> = {}): void {
    const bytes = Buffer.from(body);
    const media = /\.(m4s|mp4|m4a|m4v|ts|vtt)$/.test(file);
    this.#bodies.set(`${key}/${file}`, {
      body: bytes,
      contentType: mediaTypeOf(file) ?? 'application/octet-stream',
      cacheControl: media ? IMMUTABLE : LIVE_PLAYLIST,
      etag: `"${createHash('sha1').update(bytes).digest('base64url').slice(0, 16)}"`,
      lastModified: Date.UTC(2026, 0, 1),
      ...fields,
    });
  }

  get(key: string, file: string, info: OutputRequestInfo): StreamResource | undefined {
    this.calls.push({ key, file, info });
    return this.#bodies.get(`${key}/${file}`);
  }
}
