import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.ts';
import { ifRangeAllows, isNotModified, type Validators } from './conditional.ts';
import { mediaTypeOf } from './media-type.ts';
import { parseRange } from './range.ts';
import { parsePathname, parseStreamPath } from './request-path.ts';
import { listenOn } from '../util/listen.ts';
import type { OutputResource } from '../package/outputs.ts';

/** Where the HLS/DASH listener runs and what it serves. */
export interface HttpServerOptions {
  host: string;
  port: number;
  /** `Access-Control-Allow-Origin` on every response; default `*`. */
  corsOrigin?: string;
  /** Time to receive the request headers (default 10 000 ms). */
  headersTimeoutMs?: number;
  /** Time to receive the whole request (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive socket is kept (default 5 000 ms). */
  keepAliveTimeoutMs?: number;
  /** Socket inactivity (no bytes either way, e.g. a player that stopped reading) before it is destroyed (default 30 000 ms). */
  idleTimeoutMs?: number;
}

/** Counters of the HTTP listener. */
export interface HttpStats {
  /** Bytes of response bodies handed to sockets. */
  bytesOut: number;
  /** Requests received, of any method and outcome. */
  requests: number;
}

type LogFn = (obj: object, msg?: string) => void;
/** The logging the HTTP server needs (a pino Logger fits). */
export interface HttpLog {
  info: LogFn;
  warn: LogFn;
  debug: LogFn;
  error: LogFn;
}

/**
 * Signed playback URLs (auth.playback): the check a request under `/streams/`
 * must pass (a PlaybackGuard fits).
 */
export interface PlaybackTokens {
  /** `ok` with the `exp=…&sig=…` to carry into playlist URIs, or a refusal. */
  check(key: string, search: URLSearchParams): { ok: true; token: string } | { ok: false; reason: string };
}

/** A response body held in memory: a segment, a part, a playlist or a manifest (the packager's store makes them). */
export type StreamResource = OutputResource;

/** What a request for a stream's output brings besides its path. */
export interface OutputRequestInfo {
  /** The query (LL-HLS `_HLS_msn`, `_HLS_part`, `_HLS_skip`). */
  search: URLSearchParams;
  /** The playback query to carry into every URI of a generated playlist (signed playback). */
  token: string | undefined;
  /** The Host header, for absolute URLs the response must name (DASH UTCTiming). */
  host: string | undefined;
}

/**
 * The streams' outputs held in memory (the packager's store). `file` is the
 * name under `/streams/<key>/` (or `dash/`). May wait (a blocking playlist reload).
 */
export interface StreamOutputs {
  get(key: string, file: string, request: OutputRequestInfo): StreamResource | undefined | Promise<StreamResource | undefined>;
}

/** Optional parts of the HTTP server. */
export interface HttpServerDeps {
  /** When present, every `/streams/` request needs a valid playback token (else 403). */
  playback?: PlaybackTokens;
  /** What `/streams/` serves (the packager's store); without it every `/streams/` path is 404. */
  outputs?: StreamOutputs;
}

/** A handler for an extra route such as `GET /metrics`. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const ALLOW = 'GET, HEAD, OPTIONS';
const EXPOSE = 'Content-Length, Content-Range';

/**
 * HLS and DASH delivery on `node:http`: `/streams/<key>/<file>` and
 * `/streams/<key>/dash/<file>` are answered from memory by the packager's
 * store (HttpServerDeps.outputs; see parseStreamPath for the name rules).
 *
 * GET and HEAD only (OPTIONS answers a CORS preflight, anything else is 405,
 * RFC 9110 15.5.6); ETag and Last-Modified with 304 (RFC 9110 13.2.2); a
 * single byte range with 206/416 (RFC 9110 14); a body still being made
 * (LL-DASH's open segment) with chunked transfer. Extra routes match the exact
 * path and take precedence over `/streams/`; they see GET and HEAD only.
 *
 * With playback tokens (HttpServerDeps.playback), a `/streams/` request without
 * a valid `exp`/`sig` is answered 403 before the store is asked; the token is
 * handed to the store, which carries it into every URI of the playlists and
 * manifest it writes.
 */
export class HttpServer {
  readonly #options: Readonly<Required<HttpServerOptions>>;
  readonly #log: HttpLog;
  readonly #server: Server;
  readonly #routes = new Map<string, RouteHandler>();
  readonly #stats: HttpStats = { bytesOut: 0, requests: 0 };
  readonly #playback: PlaybackTokens | undefined;
  readonly #outputs: StreamOutputs | undefined;

  constructor(options: HttpServerOptions, log: HttpLog, deps: HttpServerDeps = {}) {
    this.#options = Object.freeze(validate(options));
    this.#log = log;
    this.#playback = deps.playback;
    this.#outputs = deps.outputs;
    const o = this.#options;
    // connectionsCheckingInterval: how often headersTimeout/requestTimeout are
    // enforced (default 30 s would let a slow-drip client overstay by that much).
    this.#server = createServer({ connectionsCheckingInterval: Math.min(1000, o.headersTimeoutMs) }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    });
    this.#server.headersTimeout = o.headersTimeoutMs;
    this.#server.requestTimeout = o.requestTimeoutMs;
    this.#server.keepAliveTimeout = o.keepAliveTimeoutMs;
    this.#server.timeout = o.idleTimeoutMs;
    this.#server.on('error', (err) => log.error({ err }, 'HTTP listener error'));
    this.#server.on('clientError', (err, socket) => {
      // Not the error object: its rawPacket holds the request line, playback token included.
      log.debug({ code: (err as NodeJS.ErrnoException).code, error: err.message }, 'HTTP client error');
      if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
        socket.end(`HTTP/1.1 ${clientErrorStatus(err)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      } else {
        socket.destroy();
      }
    });
  }

  /** Live counters (the same object every time). */
  get stats(): HttpStats {
    return this.#stats;
  }

  /** Registers a handler for one exact path (no query), e.g. `/metrics`. */
  route(path: string, handler: RouteHandler): void {
    if (!path.startsWith('/')) throw new ConfigError(`HTTP route must start with "/", got ${JSON.stringify(path)}`);
    this.#routes.set(path, handler);
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const address = await listenOn(this.#server, this.#options.host, this.#options.port);
    this.#log.info({ host: address.address, port: address.port }, 'HTTP listening');
    return address;
  }

  /**
   * Stops accepting, ends idle keep-alive sockets at once, lets responses in
   * flight finish for up to `graceMs`, then destroys what is left.
   */
  async close(graceMs = 5000): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#stats.requests++;
    res.setHeader('Access-Control-Allow-Origin', this.#options.corsOrigin);
    res.setHeader('Access-Control-Expose-Headers', EXPOSE);
    const method = req.method ?? '';
    if (method === 'OPTIONS') {
      // CORS preflight (Fetch standard, "CORS protocol").
      res.writeHead(204, {
        Allow: ALLOW,
        'Access-Control-Allow-Methods': ALLOW,
        'Access-Control-Allow-Headers': 'Range',
        'Access-Control-Max-Age': '86400',
      });
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      this.#plain(res, 405, 'method not allowed', { Allow: ALLOW });
      return;
    }
    const pathname = parsePathname(req.url ?? '');
    if (pathname === undefined) return this.#notFound(res);
    const handler = this.#routes.get(pathname);
    if (handler !== undefined) {
      await handler(req, res);
      return;
    }
    const target = parseStreamPath(pathname);
    if (target === undefined) return this.#notFound(res);
    if (mediaTypeOf(target.file) === undefined || this.#outputs === undefined) return this.#notFound(res);
    let token: string | undefined;
    if (this.#playback !== undefined) {
      // Before the store: without a token, nobody learns which keys exist.
      const verdict = this.#playback.check(target.key, searchParams(req.url ?? ''));
      if (!verdict.ok) {
        this.#log.debug({ reason: verdict.reason }, 'playback refused');
        return this.#plain(res, 403, 'forbidden');
      }
      token = verdict.token;
    }
    const resource = await this.#outputs.get(target.key, target.file, { search: searchParams(req.url ?? ''), token, host: req.headers.host });
    if (resource === undefined) return this.#notFound(res);
    if (resource.chunks !== undefined) return this.#serveGrowing(req, res, resource, resource.chunks);
    this.#serveResource(req, res, resource);
  }

  /** A body from memory: validators, 304, one byte range (206/416), HEAD. */
  #serveResource(req: IncomingMessage, res: ServerResponse, r: StreamResource): void {
    if (res.destroyed) return;
    if (r.status !== undefined && r.status !== 200) {
      this.#plain(res, r.status, r.body.toString('utf8').trim() || 'error', { 'Cache-Control': r.cacheControl });
      return;
    }
    const v: Validators = { etag: r.etag, mtimeS: Math.floor(r.lastModified / 1000) };
    const span = this.#head(req, res, v, r.body.length, r.cacheControl, r.contentType);
    if (span === undefined) return;
    this.#stats.bytesOut += span.end - span.start + 1;
    res.end(span.end - span.start + 1 === r.body.length ? r.body : r.body.subarray(span.start, span.end + 1));
  }

  /**
   * A body still being made (LL-DASH's open segment): 200 with chunked
   * transfer (RFC 9112 7.1), each piece written as it comes, with
   * backpressure. No validators or ranges until it is whole (a Range is
   * ignored, RFC 9110 14.2). `X-Accel-Buffering: no` lets an nginx in front
   * pass the pieces on at once. If the body fails midway the socket is
   * destroyed: without the final chunk no cache keeps the truncated body.
   */
  async #serveGrowing(req: IncomingMessage, res: ServerResponse, r: StreamResource, chunks: AsyncIterable<Buffer>): Promise<void> {
    if (res.destroyed) return;
    res.writeHead(200, {
      'Cache-Control': r.cacheControl,
      'Content-Type': r.contentType,
      'X-Content-Type-Options': 'nosniff',
      'Accept-Ranges': 'none',
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      for await (const chunk of chunks) {
        if (res.destroyed) return; // leaving the loop ends the generator and its wait
        this.#stats.bytesOut += chunk.length;
        if (!res.write(chunk)) await drained(res);
      }
      res.end();
    } catch (err) {
      this.#log.debug({ err, url: parsePathname(req.url ?? '') }, 'HTTP growing body cut short');
      res.destroy();
    }
  }

  /**
   * Validators, caching, 304, one byte range (206/416) and HEAD for a body of
   * `size` bytes: writes the head and returns the byte span to send, or
   * undefined when the response is already complete.
   */
  #head(
    req: IncomingMessage,
    res: ServerResponse,
    v: Validators,
    size: number,
    cacheControl: string,
    contentType: string,
  ): { start: number; end: number } | undefined {
    res.setHeader('ETag', v.etag);
    res.setHeader('Last-Modified', new Date(v.mtimeS * 1000).toUTCString());
    res.setHeader('Cache-Control', cacheControl);
    if (isNotModified(req.headers, v)) {
      res.writeHead(304);
      res.end();
      return undefined;
    }
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', contentType);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const range = ifRangeAllows(req.headers, v) ? parseRange(req.headers.range, size) : { kind: 'full' as const };
    if (range.kind === 'unsatisfiable') {
      res.removeHeader('Content-Type');
      this.#plain(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
      return undefined;
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : size - 1;
    if (range.kind === 'partial') {
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
    } else {
      res.writeHead(200, { 'Content-Length': size });
    }
    if (req.method === 'HEAD' || end < start) {
      res.end();
      return undefined;
    }
    return { start, end };
  }

  #notFound(res: ServerResponse): void {
    this.#plain(res, 404, 'not found');
  }

  #plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    const body = `${text}\n`;
    res.writeHead(status, {
      'Cache-Control': 'no-cache',
      ...headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    this.#stats.bytesOut += body.length;
    res.end(body);
  }

  #fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      this.#log.debug({ err }, 'HTTP response failed after headers');
      res.destroy();
      return;
    }
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const busy = code === 'EMFILE' || code === 'ENFILE';
    // The path only: a playback token in the query is a credential.
    this.#log[busy ? 'warn' : 'error']({ err, url: parsePathname(res.req.url ?? '') }, 'HTTP request failed');
    try {
      this.#plain(res, busy ? 503 : 500, busy ? 'busy' : 'internal error', busy ? { 'Retry-After': '1' } : {});
    } catch {
      res.destroy();
    }
  }
}

/** Resolves when `res` can take more, or has closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The query of a request-target (`/a?x=1` → `x=1`). */
function searchParams(rawUrl: string): URLSearchParams {
  const q = rawUrl.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
}

/** The status line for a request that never reached a handler (what Node's default clientError sends). */
function clientErrorStatus(err: NodeJS.ErrnoException): string {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  if (err.code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  return '400 Bad Request';
}

function validate(o: HttpServerOptions): Required<HttpServerOptions> {
  if (typeof o.host !== 'string' || o.host.length === 0) throw new ConfigError('http.host must be a non-empty string');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new ConfigError(`http.port must be 0–65535, got ${o.port}`);
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`http.${name} must be a positive integer, got ${v}`);
    return v;
  };
  const headersTimeoutMs = positive('headersTimeoutMs', o.headersTimeoutMs, 10_000);
  const requestTimeoutMs = positive('requestTimeoutMs', o.requestTimeoutMs, 30_000);
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('http.headersTimeoutMs must not exceed http.requestTimeoutMs');
  return {
    host: o.host,
    port: o.port,
    corsOrigin: o.corsOrigin ?? '*',
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: positive('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 5_000),
    idleTimeoutMs: positive('idleTimeoutMs', o.idleTimeoutMs, 30_000),
  };
}
