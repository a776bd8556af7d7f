import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config/index.ts';
import { ProxyRtmpError, SignUsageError } from '../errors.ts';
import { parseStreamName } from '../streams/stream-key.ts';
import { playbackSubject, publishSubject, signedQuery } from './signed-url.ts';

/** Usage of `proxy-rtmp sign`, also shown by `proxy-rtmp --help`. */
export const SIGN_USAGE = `proxy-rtmp sign --key KEY [--ttl TTL] [--host HOST[:PORT]] [--app APP] [--playback] [--config PATH]
  Prints a signed publish URL rtmp://HOST/APP/KEY?exp=…&sig=… (or, with --playback,
  a signed HLS URL http://HOST/streams/KEY/master.m3u8?exp=…&sig=…) using the first
  of auth.secrets. TTL: 90s, 15m, 1h (default), 7d or plain seconds, at most
  auth.signedUrlMaxTtlSeconds. HOST defaults to the configured listener address
  (this machine's name when it listens on every address) and its port.`;

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `15m`, `1h`, `7d` or plain seconds → seconds; SignUsageError otherwise. */
export function parseTtl(text: string): number {
  const match = /^([1-9][0-9]{0,9})([smhd]?)$/.exec(text.trim());
  if (match === null) throw new SignUsageError(`--ttl: expected a duration such as 90s, 15m, 1h or 7d (or seconds), got '${text}'`);
  return Number(match[1]) * UNITS[match[2] || 's']!;
}

/** What `sign` needs besides its arguments. */
export interface SignIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Environment for RTMP_CONFIG and RTMP_* overrides. */
  env: Record<string, string | undefined>;
  /** Clock, ms (default Date.now). */
  now?: () => number;
  /** This machine's name (default os.hostname). */
  hostname?: () => string;
}

/** What to sign. */
export interface SignRequest {
  key: string;
  ttlS: number;
  /** `host` or `host:port` as it goes into the URL. */
  host: string;
  app: string;
  playback: boolean;
}

/** The signed URL for `request` under the first of auth.secrets at `nowMs`. */
export function signedUrl(config: Config, request: SignRequest, nowMs: number): string {
  const secret = config.auth.secrets[0];
  if (secret === undefined) {
    throw new SignUsageError('no secret configured: set auth.secrets (RTMP_AUTH_SECRETS) to sign URLs');
  }
  if (request.ttlS > config.auth.signedUrlMaxTtlSeconds) {
    throw new SignUsageError(
      `--ttl: ${request.ttlS} s is above auth.signedUrlMaxTtlSeconds (${config.auth.signedUrlMaxTtlSeconds} s); the server would refuse it`,
    );
  }
  const exp = Math.floor(nowMs / 1000) + request.ttlS;
  if (request.playback) {
    return `http://${request.host}/streams/${request.key}/master.m3u8?${signedQuery(secret, playbackSubject(request.key), exp)}`;
  }
  return `rtmp://${request.host}/${request.app}/${request.key}?${signedQuery(secret, publishSubject(request.app, request.key), exp)}`;
}

/** The listener address as a URL host: wildcards become this machine's name, IPv6 gets brackets, default ports are left out. */
function defaultHost(bind: string, port: number, defaultPort: number, machine: () => string): string {
  const name = bind === '0.0.0.0' || bind === '::' || bind === '' ? machine() : bind;
  const host = name.includes(':') ? `[${name}]` : name;
  return port === defaultPort ? host : `${host}:${port}`;
}

/**
 * `proxy-rtmp sign …`: prints one signed URL and returns the exit status
 * (0; 2 for a usage error; 78 for a configuration problem, no secret included).
 */
export function runSignCommand(argv: readonly string[], io: SignIo): number {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        key: { type: 'string', short: 'k' },
        ttl: { type: 'string', default: '1h' },
        host: { type: 'string' },
        app: { type: 'string' },
        playback: { type: 'boolean', default: false },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    io.stderr(`proxy-rtmp sign: ${(err as Error).message}\n\n${SIGN_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(`${SIGN_USAGE}\n`);
    return 0;
  }
  try {
    if (values.key === undefined) throw new SignUsageError('--key is required');
    const key = parseStreamName(values.key).key;
    if (key !== values.key) throw new SignUsageError('--key: give the stream key alone, without a query');
    const ttlS = parseTtl(values.ttl);
    if (values.host !== undefined && !/^[A-Za-z0-9.\-[\]:]{1,260}$/.test(values.host)) {
      throw new SignUsageError(`--host: expected a host name or address with an optional :port, got '${values.host}'`);
    }
    if (values.app !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(values.app)) {
      throw new SignUsageError(`--app: expected 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-', got '${values.app}'`);
    }
    const path = values.config ?? (io.env['RTMP_CONFIG'] || undefined);
    let config: Config;
    try {
      config = loadConfig(path === undefined ? { env: io.env } : { path, env: io.env });
    } catch (err) {
      if (err instanceof ProxyRtmpError) {
        io.stderr(`proxy-rtmp sign: configuration error: ${err.message}\n`);
        return 78;
      }
      throw err;
    }
    if (config.auth.secrets.length === 0) {
      io.stderr('proxy-rtmp sign: no secret configured: set auth.secrets (RTMP_AUTH_SECRETS) to sign URLs\n');
      return 78;
    }
    const machine = io.hostname ?? hostname;
    const host =
      values.host ??
      (values.playback
        ? defaultHost(config.http.host, config.http.port, 80, machine)
        : defaultHost(config.rtmp.host, config.rtmp.port, 1935, machine));
    const url = signedUrl(config, { key, ttlS, host, app: values.app ?? config.rtmp.app, playback: values.playback }, (io.now ?? Date.now)());
    io.stdout(`${url}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ProxyRtmpError) {
      io.stderr(`proxy-rtmp sign: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
