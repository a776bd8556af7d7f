/**
 * The configuration schema: every key, its type and bounds, its built-in
 * default and its environment variable. The loader (`load.ts`) and the printer
 * (`format.ts`) are driven entirely by this file, so a new key is added here
 * and nowhere else.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

// The configuration is parsed once or twice per process: zod's JIT (a parser generated with
// `new Function` on first use) costs more start-up time than it could save (issue 16).
z.config({ jitless: true });

/** Largest safe timer delay: Node fires longer `setTimeout`s immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** RTMP message and chunk lengths are 24-bit fields (RTMP spec 5.3.1.2). */
const MAX_UINT24 = 0xff_ff_ff;
/** Tallest source we can be asked to limit to (8K). */
const MAX_RESOLUTION_LINES = 4320;

// Each leaf's `.describe()` text is what the error message says is expected.
function integer(min: number, max?: number) {
  const base = z.number().int().min(min);
  return max === undefined
    ? base.describe(`an integer of at least ${min}`)
    : base.max(max).describe(`an integer between ${min} and ${max}`);
}

const host = () =>
  z
    .string()
    .regex(/^\S{1,253}$/)
    .describe('a host name or IP address (1 to 253 characters, no spaces)');
const port = () => integer(0, 65535);

/** Log levels, as pino names them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** Log formats: `auto` is pretty on a TTY and JSON otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

const RESOLUTION_EXPECTED = `a resolution such as '720p', '1080p', '1440p', '2160p', '4k', '8k' or a line count such as '1080' (at most ${MAX_RESOLUTION_LINES})`;

/**
 * Height in lines of a resolution name: `"720p"` → 720, `"1080"` → 1080,
 * `"4k"` → 2160, `"8k"` → 4320. The `p`/`k` suffix is case-insensitive; leading
 * zeros, signs, spaces and heights above 4320 are refused with a `ConfigError`.
 */
export function parseResolution(value: string): number {
  const match = /^(?:([1-9]\d{0,3})[pP]?|([48])[kK])$/.exec(value);
  const lines = match === null ? NaN : match[2] === '4' ? 2160 : match[2] === '8' ? 4320 : Number(match[1]);
  if (!(lines <= MAX_RESOLUTION_LINES)) {
    throw new ConfigError(`expected ${RESOLUTION_EXPECTED}, got '${value}'`);
  }
  return lines;
}

// A YAML `maxResolution: 1080` arrives as a number; accept it like "1080".
const resolution = () =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      try {
        return `${parseResolution(String(value))}p`;
      } catch {
        ctx.addIssue({ code: 'custom', message: RESOLUTION_EXPECTED, input: value });
        return z.NEVER;
      }
    })
    .describe(RESOLUTION_EXPECTED);

/** `ffmpeg.encoder`: `auto` proves each candidate by a test encode at start-up. */
export const ENCODER_MODES = ['auto', 'x264', 'nvenc', 'qsv', 'vaapi'] as const;
/** A configured publish key: the key itself, or `sha256:` and its hex digest. */
const STREAM_KEY_OR_HASH = /^(?:[A-Za-z0-9_.-]{1,128}|sha256:[0-9a-f]{64})$/;

/** Most renditions one stream may be transcoded into. */
export const MAX_LADDER_RUNGS = 8;
/** Widest rung (8K). */
const MAX_RUNG_WIDTH = 7680;

const evenInteger = (min: number, max: number) =>
  z.number().int().min(min).max(max).multipleOf(2).describe(`an even integer between ${min} and ${max}`);

/** Rung codecs, as `src/transcode/ladder.ts` names them. */
export const RUNG_CODECS = ['h264', 'h265'] as const;
/** The fields of a rung, in the order the config file writes them. */
export const RUNG_FIELDS = ['name', 'width', 'height', 'bitrateKbps', 'fps', 'codec'] as const;

/** One rendition of the ladder; structurally a `Rung` of `src/transcode/ladder.ts`. */
const rung = () =>
  z
    .strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,16}$/)
        .describe("1 to 16 characters from A-Z, a-z, 0-9, '_' and '-'"),
      width: evenInteger(16, MAX_RUNG_WIDTH),
      height: evenInteger(16, MAX_RESOLUTION_LINES),
      bitrateKbps: integer(100, 100_000),
      fps: z.number().positive().max(120).describe('a number greater than 0 and at most 120'),
      codec: z.enum(RUNG_CODECS).describe(`one of ${RUNG_CODECS.join(', ')}`),
    })
    .describe(`a mapping of ${RUNG_FIELDS.join(', ')}`);

/** Refuses a second rung with the same `field` value; the issue names the later rung. */
function unique(field: 'name' | 'height', rungs: readonly { name: unknown; height: unknown }[], ctx: z.RefinementCtx): void {
  const first = new Map<unknown, number>();
  rungs.forEach((r, i) => {
    const value = r[field];
    const earlier = first.get(value);
    if (earlier === undefined) first.set(value, i);
    else {
      ctx.addIssue({
        code: 'custom',
        path: [i, field],
        input: value,
        message: `a ${field} that no other rung has (rung ${earlier} already has it)`,
      });
    }
  });
}

const ladder = () =>
  z
    .array(rung())
    .min(1)
    .max(MAX_LADDER_RUNGS)
    .superRefine((rungs, ctx) => {
      unique('name', rungs, ctx);
      unique('height', rungs, ctx);
    })
    .describe(
      `a list of 1 to ${MAX_LADDER_RUNGS} rungs, each a mapping of ${RUNG_FIELDS.join(', ')}, with unique names and unique heights`,
    );

/** The whole configuration; every object is strict (unknown keys are errors). */
export const configSchema = z.strictObject({
  rtmp: z.strictObject({
    host: host(),
    port: port(),
    app: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .describe("1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"),
    chunkSize: integer(128, 65536),
    maxIncomingChunkSize: integer(128, MAX_UINT24),
    maxMessageSize: integer(1024, MAX_UINT24),
    maxChunkStreams: integer(4, 65599),
    maxBufferedBytes: integer(65536),
    windowAckSize: integer(1, 2 ** 32 - 1),
    handshakeTimeoutMs: integer(100, MAX_TIMER_MS),
    idleTimeoutMs: integer(100, MAX_TIMER_MS),
  }),
  limits: z.strictObject({
    maxStreams: integer(1),
    maxBitrateMbps: z.number().positive().describe('a number greater than 0'),
    maxResolution: resolution(),
    bitrateWindowMs: integer(1000, MAX_TIMER_MS),
    maxConnectionsPerAddress: integer(0),
    connectionsPerMinutePerAddress: integer(0),
  }),
  transcode: z.strictObject({
    enabled: z.boolean().describe('true or false'),
    ladder: ladder(),
    preset: z
      .string()
      .regex(/^[a-z0-9]{1,16}$/)
      .describe('an encoder preset name such as ultrafast, veryfast or medium'),
    segmentSeconds: integer(1, 30),
    partSeconds: z.number().min(0.1).max(2).describe('a number of seconds between 0.1 and 2, at most transcode.segmentSeconds'),
    lowLatency: z.boolean().describe('true or false'),
    windowSegments: integer(2, 100),
    audioKbps: integer(16, 512),
    lingerSeconds: integer(0, 86400),
    reconnectGraceSeconds: integer(0, 300),
    memoryPerStreamMb: integer(8, 4096),
    maxBacklogBytes: integer(65536),
    passthrough: z.boolean().describe('true or false'),
  }),
  ffmpeg: z.strictObject({
    path: z.string().max(4096).describe("a path to an ffmpeg binary, or '' to look it up"),
    encoder: z.enum(ENCODER_MODES).describe(`one of ${ENCODER_MODES.join(', ')}`),
    vaapiDevice: z
      .string()
      .max(4096)
      .regex(/^(|\/\S*)$/)
      .describe("an absolute device path such as /dev/dri/renderD128, or '' to try every /dev/dri/renderD*"),
    cacheDir: z
      .string()
      .max(4096)
      .regex(/^(|\/.*)$/)
      .describe("an absolute directory path, or '' for the default"),
    probeTimeoutMs: integer(1000, 120_000),
  }),
  auth: z
    .strictObject({
      enabled: z.boolean().describe('true or false'),
      keys: z
        .array(
          z
            .string()
            .regex(STREAM_KEY_OR_HASH)
            .describe("a stream key (1 to 128 characters from A-Z, a-z, 0-9, '_', '-', '.') or 'sha256:' and 64 hex digits"),
        )
        .max(10_000)
        .describe("a list of stream keys, each a key or 'sha256:' followed by its 64-hex-digit SHA-256"),
      secrets: z
        .array(z.string().min(16).max(1024).describe('a secret of 16 to 1024 characters'))
        .max(2)
        .describe('a list of at most 2 secrets of 16 to 1024 characters each (the current one first)'),
      signedUrlMaxTtlSeconds: integer(1, 10 * 365 * 86400),
      webhookUrl: z
        .string()
        .max(4096)
        .regex(/^(|https?:\/\/\S+)$/)
        .describe("an http:// or https:// URL, or '' for no webhook"),
      webhookSecret: z
        .string()
        .max(1024)
        .refine((v) => v === '' || v.length >= 16)
        .describe("a secret of 16 to 1024 characters, or '' to sign webhook requests with the first of auth.secrets"),
      webhookTimeoutMs: integer(100, 60_000),
      webhookFailOpen: z.boolean().describe('true or false'),
      playback: z.boolean().describe('true or false'),
    })
    .superRefine((auth, ctx) => {
      if (auth.enabled && auth.keys.length === 0 && auth.secrets.length === 0 && auth.webhookUrl === '') {
        ctx.addIssue({
          code: 'custom',
          path: ['enabled'],
          input: auth.enabled,
          message: 'false, or at least one of auth.keys, auth.secrets or auth.webhookUrl set (nothing could ever publish)',
        });
      }
      if (auth.playback && auth.secrets.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['playback'],
          input: auth.playback,
          message: 'false, or auth.secrets set (signed playback URLs need a secret)',
        });
      }
    }),
  grpc: z.strictObject({ host: host(), port: port(), drainGraceMs: integer(0, 600_000) }),
  http: z.strictObject({ host: host(), port: port() }),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS).describe(`one of ${LOG_LEVELS.join(', ')}`),
    format: z.enum(LOG_FORMATS).describe(`one of ${LOG_FORMATS.join(', ')}`),
  }),
});

/** `T` with `readonly` on every property at every depth. */
export type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The validated, normalised, deeply frozen configuration. */
export type Config = DeepReadonly<z.output<typeof configSchema>>;
/** The `rtmp` section: the ingest listener and per-connection protocol limits. */
export type RtmpConfig = Config['rtmp'];
/** The `limits` section: admission limits for publishers. */
export type LimitsConfig = Config['limits'];
/** The `transcode` section. */
export type TranscodeConfig = Config['transcode'];
/** One rung of `transcode.ladder`; assignable to `Rung` of `src/transcode/ladder.ts`. */
export type RungConfig = TranscodeConfig['ladder'][number];
/** The `ffmpeg` section: which binary runs and which encoder it uses. */
export type FfmpegConfig = Config['ffmpeg'];
/** The `auth` section: publish and playback authentication. */
export type AuthConfig = Config['auth'];
/** The `grpc` section. */
export type GrpcConfig = Config['grpc'];
/** The `http` section. */
export type HttpConfig = Config['http'];
/** The `log` section. */
export type LogConfig = Config['log'];

/** A top-level section name (`rtmp`, `limits`, …). */
export type SectionName = keyof Config;
/** A dotted leaf key such as `rtmp.port`. */
export type ConfigKey = { [S in SectionName]: `${S}.${keyof Config[S] & string}` }[SectionName];

/** How an environment string becomes a value before validation. */
export type EnvKind = 'integer' | 'number' | 'string' | 'boolean' | 'json';

/** What the loader and printer know about one key beyond its schema. */
export interface FieldInfo {
  /** Environment variable that overrides the key. */
  readonly env: string;
  /** One line for people: the config file comment and the README table. */
  readonly description: string;
  /** How the environment string is parsed before validation. */
  readonly kind: EnvKind;
  /** Keys, tokens and secrets: error messages never show the value. */
  readonly secret?: boolean;
}

/** What an error message shows in place of a secret value. */
export const HIDDEN_VALUE = '(hidden)';

/** One line per section, written above it in the config file. */
export const SECTION_DESCRIPTIONS: Readonly<Record<SectionName, string>> = {
  rtmp: 'RTMP ingest listener and per-connection protocol limits.',
  limits: 'Admission limits applied to every publisher.',
  transcode: 'Adaptive-bitrate transcoding of every published stream into HLS and DASH.',
  ffmpeg: 'The ffmpeg binary and the video encoder it runs.',
  auth: 'Publish and playback authentication (off by default).',
  grpc: 'gRPC ModuleService endpoint.',
  http: 'HTTP endpoint serving the HLS/DASH outputs.',
  log: 'Logging.',
};

/** Environment variable, description and env parsing for every key. */
export const FIELDS: Readonly<Record<ConfigKey, FieldInfo>> = {
  'rtmp.host': { env: 'RTMP_HOST', kind: 'string', description: 'Address the RTMP listener binds to' },
  'rtmp.port': { env: 'RTMP_PORT', kind: 'integer', description: 'TCP port of the RTMP listener (0 picks a free port)' },
  'rtmp.app': {
    env: 'RTMP_APP',
    kind: 'string',
    description: 'The only application name accepted by connect',
  },
  'rtmp.chunkSize': {
    env: 'RTMP_CHUNK_SIZE',
    kind: 'integer',
    description: 'Chunk size we send with (Set Chunk Size, RTMP spec 5.4.1)',
  },
  'rtmp.maxIncomingChunkSize': {
    env: 'RTMP_MAX_INCOMING_CHUNK_SIZE',
    kind: 'integer',
    description: 'Largest Set Chunk Size accepted from a peer',
  },
  'rtmp.maxMessageSize': {
    env: 'RTMP_MAX_MESSAGE_SIZE',
    kind: 'integer',
    description: 'Largest RTMP message accepted, in bytes (24-bit length field)',
  },
  'rtmp.maxChunkStreams': {
    env: 'RTMP_MAX_CHUNK_STREAMS',
    kind: 'integer',
    description: 'Most distinct chunk stream ids on one connection',
  },
  'rtmp.maxBufferedBytes': {
    env: 'RTMP_MAX_BUFFERED_BYTES',
    kind: 'integer',
    description: 'Bytes one connection may hold in partly received messages',
  },
  'rtmp.windowAckSize': {
    env: 'RTMP_WINDOW_ACK_SIZE',
    kind: 'integer',
    description: 'Window Acknowledgement Size sent to peers (RTMP spec 5.4.4)',
  },
  'rtmp.handshakeTimeoutMs': {
    env: 'RTMP_HANDSHAKE_TIMEOUT_MS',
    kind: 'integer',
    description: 'Time allowed for the RTMP handshake, in ms',
  },
  'rtmp.idleTimeoutMs': {
    env: 'RTMP_IDLE_TIMEOUT_MS',
    kind: 'integer',
    description: 'Drop a publisher silent this long and free its key, in ms',
  },
  'limits.maxStreams': { env: 'RTMP_MAX_STREAMS', kind: 'integer', description: 'Most streams published at once' },
  'limits.maxBitrateMbps': {
    env: 'RTMP_MAX_BITRATE',
    kind: 'number',
    description: 'Highest sustained input bitrate per stream, in Mbit/s',
  },
  'limits.maxResolution': {
    env: 'RTMP_MAX_RESOLUTION',
    kind: 'string',
    description: 'Tallest source: 720p, 1080p, 1440p, 2160p, 4k, 8k or a line count',
  },
  'limits.bitrateWindowMs': {
    env: 'RTMP_BITRATE_WINDOW_MS',
    kind: 'integer',
    description: 'How long the bitrate may stay over the limit, in ms',
  },
  'limits.maxConnectionsPerAddress': {
    env: 'RTMP_MAX_CONNECTIONS_PER_ADDRESS',
    kind: 'integer',
    description: 'Most RTMP connections open at once from one client address (0: no cap)',
  },
  'limits.connectionsPerMinutePerAddress': {
    env: 'RTMP_CONNECTIONS_PER_MINUTE',
    kind: 'integer',
    description: 'Most new RTMP connections per minute from one client address (0: no limit)',
  },
  'transcode.enabled': {
    env: 'RTMP_TRANSCODE',
    kind: 'boolean',
    description: 'Transcode published streams into the HLS/DASH ladder (false: ingest only)',
  },
  'transcode.ladder': {
    env: 'RTMP_LADDER',
    kind: 'json',
    description: 'Renditions encoded from every stream; RTMP_LADDER takes the whole list as JSON',
  },
  'transcode.preset': { env: 'RTMP_TRANSCODE_PRESET', kind: 'string', description: 'x264 preset for every rung' },
  'transcode.segmentSeconds': {
    env: 'RTMP_SEGMENT_SECONDS',
    kind: 'integer',
    description: 'Segment duration in seconds; keyframes are aligned to it on every rung',
  },
  'transcode.partSeconds': {
    env: 'RTMP_PART_SECONDS',
    kind: 'number',
    description: 'Part (CMAF chunk) duration: LL-HLS parts and LL-DASH chunks are this long',
  },
  'transcode.lowLatency': {
    env: 'RTMP_LOW_LATENCY',
    kind: 'boolean',
    description: 'LL-HLS (parts, blocking playlist reload) and LL-DASH attributes; players without LL support play the same playlists',
  },
  'transcode.windowSegments': {
    env: 'RTMP_WINDOW_SEGMENTS',
    kind: 'integer',
    description: 'Segments listed in the live playlists and manifest; older ones are freed',
  },
  'transcode.audioKbps': { env: 'RTMP_AUDIO_KBPS', kind: 'integer', description: 'AAC bitrate shared by every rung' },
  'transcode.lingerSeconds': {
    env: 'RTMP_LINGER_SECONDS',
    kind: 'integer',
    description: 'How long a finished stream stays playable (with ENDLIST) before its output is freed',
  },
  'transcode.reconnectGraceSeconds': {
    env: 'RTMP_RECONNECT_GRACE_SECONDS',
    kind: 'integer',
    description: 'A publisher that comes back within this time continues the same playlists (after a discontinuity)',
  },
  'transcode.memoryPerStreamMb': {
    env: 'RTMP_MEMORY_PER_STREAM_MB',
    kind: 'integer',
    description: 'Most memory one stream\'s packaged output may hold; past it the oldest segments are freed first',
  },
  'transcode.maxBacklogBytes': {
    env: 'RTMP_MAX_BACKLOG_BYTES',
    kind: 'integer',
    description: 'Bytes queued towards a slow ffmpeg before whole GOPs are dropped',
  },
  'transcode.passthrough': {
    env: 'RTMP_PASSTHROUGH',
    kind: 'boolean',
    description: 'Package an H.264 source that fits its top rung as it is (no re-encode), measured over its first two GOPs; see README "Passthrough"',
  },
  'ffmpeg.path': {
    env: 'RTMP_FFMPEG_PATH',
    kind: 'string',
    description:
      "ffmpeg binary; '' tries FFMPEG_PATH, then the one carried in the executable, then ffmpeg-static, then ffmpeg on PATH",
  },
  'ffmpeg.encoder': {
    env: 'RTMP_ENCODER',
    kind: 'string',
    description:
      'Video encoder: auto proves nvenc, qsv, vaapi, then x264 by a test encode at start; a forced one that fails stops start-up',
  },
  'ffmpeg.vaapiDevice': {
    env: 'RTMP_VAAPI_DEVICE',
    kind: 'string',
    description: "VAAPI render node; '' tries every /dev/dri/renderD*",
  },
  'ffmpeg.cacheDir': {
    env: 'RTMP_CACHE_DIR',
    kind: 'string',
    description:
      "Where the carried ffmpeg is unpacked; '' means $CACHE_DIRECTORY under systemd, else $XDG_CACHE_HOME/proxy-rtmp or ~/.cache/proxy-rtmp",
  },
  'ffmpeg.probeTimeoutMs': {
    env: 'RTMP_ENCODER_PROBE_TIMEOUT_MS',
    kind: 'integer',
    description: 'Time allowed for each test encode at start-up, in ms',
  },
  'auth.enabled': {
    env: 'RTMP_AUTH',
    kind: 'boolean',
    description: 'Require publishers to authenticate (a listed key, a signed URL or the webhook)',
  },
  'auth.keys': {
    env: 'RTMP_AUTH_KEYS',
    kind: 'json',
    secret: true,
    description: "Stream keys allowed to publish, each the key or 'sha256:<hex>'; RTMP_AUTH_KEYS takes a JSON list",
  },
  'auth.secrets': {
    env: 'RTMP_AUTH_SECRETS',
    kind: 'json',
    secret: true,
    description: 'HMAC secrets for signed URLs, current first, at most 2 (for rotation); RTMP_AUTH_SECRETS takes a JSON list',
  },
  'auth.signedUrlMaxTtlSeconds': {
    env: 'RTMP_AUTH_MAX_TTL_SECONDS',
    kind: 'integer',
    description: 'Signed URLs expiring further ahead than this are refused',
  },
  'auth.webhookUrl': {
    env: 'RTMP_AUTH_WEBHOOK_URL',
    kind: 'string',
    description: "URL POSTed on every publish; a 2xx answer allows it ('' for no webhook)",
  },
  'auth.webhookSecret': {
    env: 'RTMP_AUTH_WEBHOOK_SECRET',
    kind: 'string',
    secret: true,
    description: "Secret signing the webhook request body; '' uses the first of auth.secrets",
  },
  'auth.webhookTimeoutMs': {
    env: 'RTMP_AUTH_WEBHOOK_TIMEOUT_MS',
    kind: 'integer',
    description: 'Time allowed for the webhook to answer, in ms',
  },
  'auth.webhookFailOpen': {
    env: 'RTMP_AUTH_WEBHOOK_FAIL_OPEN',
    kind: 'boolean',
    description: 'When the webhook times out or cannot be reached: true allows the publish, false refuses it',
  },
  'auth.playback': {
    env: 'RTMP_AUTH_PLAYBACK',
    kind: 'boolean',
    description: 'Require signed URLs for HLS and DASH playback',
  },
  'grpc.host': { env: 'RTMP_GRPC_HOST', kind: 'string', description: 'Address the gRPC ModuleService binds to' },
  'grpc.port': { env: 'RTMP_GRPC_PORT', kind: 'integer', description: 'TCP port of the gRPC ModuleService' },
  'grpc.drainGraceMs': {
    env: 'RTMP_DRAIN_GRACE_MS',
    kind: 'integer',
    description: 'On SIGTERM: time between health turning NOT_SERVING (new publishes refused) and the stop',
  },
  'http.host': { env: 'RTMP_HTTP_HOST', kind: 'string', description: 'Address the HLS/DASH HTTP server binds to' },
  'http.port': { env: 'RTMP_HTTP_PORT', kind: 'integer', description: 'TCP port of the HLS/DASH HTTP server' },
  'log.level': {
    env: 'RTMP_LOG_LEVEL',
    kind: 'string',
    description: 'Log level: trace, debug, info, warn, error, fatal or silent',
  },
  'log.format': {
    env: 'RTMP_LOG_FORMAT',
    kind: 'string',
    description: 'Log format: auto (pretty on a TTY, else JSON), json or pretty',
  },
};

/** Every section name, in schema order. */
export const SECTIONS = Object.keys(configSchema.shape) as readonly SectionName[];

/** Every dotted leaf key, in schema order (the order of the config file). */
export const CONFIG_KEYS: readonly ConfigKey[] = SECTIONS.flatMap((section) =>
  Object.keys(configSchema.shape[section].shape).map((leaf) => `${section}.${leaf}` as ConfigKey),
);

/** The zod schema of one leaf key. */
export function leafSchema(key: ConfigKey): z.ZodType {
  const [section, leaf] = splitKey(key);
  const shape: Record<string, z.ZodType> = configSchema.shape[section].shape;
  const schema = shape[leaf];
  if (schema === undefined) throw new Error(`no schema for ${key}`);
  return schema;
}

/** What a leaf key accepts, in words ("an integer between 0 and 65535"). */
export function expectedValue(key: ConfigKey): string {
  return leafSchema(key).description ?? 'a valid value';
}

/**
 * The schema of what sits at `path` inside a leaf key (`['0', 'height']` inside
 * `transcode.ladder` is a rung height), or `undefined` past the schema's end.
 */
export function innerSchema(key: ConfigKey, path: readonly PropertyKey[]): z.ZodType | undefined {
  let schema: z.ZodType | undefined = leafSchema(key);
  for (const segment of path) {
    if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodObject && typeof segment === 'string' && Object.hasOwn(schema.shape, segment)) {
      schema = (schema.shape as Record<string, z.ZodType>)[segment];
    } else return undefined;
  }
  return schema;
}

/** `'rtmp.port'` → `['rtmp', 'port']`. */
export function splitKey(key: ConfigKey): [SectionName, string] {
  const dot = key.indexOf('.');
  return [key.slice(0, dot) as SectionName, key.slice(dot + 1)];
}

/** Reads a leaf of `config` by dotted key. */
export function getValue(config: Config, key: ConfigKey): unknown {
  const [section, leaf] = splitKey(key);
  return (config[section] as Readonly<Record<string, unknown>>)[leaf];
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The built-in defaults; `appliance/config.yaml` loads to exactly this. */
export const DEFAULT_CONFIG: Config = deepFreeze(
  configSchema.parse({
    rtmp: {
      host: '0.0.0.0',
      port: 1935,
      app: 'live',
      chunkSize: 4096,
      maxIncomingChunkSize: MAX_UINT24,
      maxMessageSize: MAX_UINT24,
      maxChunkStreams: 64,
      maxBufferedBytes: 32 * 1024 * 1024,
      windowAckSize: 2_500_000,
      handshakeTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
    },
    limits: {
      maxStreams: 100,
      maxBitrateMbps: 10,
      maxResolution: '1080p',
      bitrateWindowMs: 5000,
      maxConnectionsPerAddress: 0,
      connectionsPerMinutePerAddress: 0,
    },
    transcode: {
      enabled: true,
      // Same as DEFAULT_LADDER in src/transcode/ladder.ts (a test keeps them equal).
      ladder: [
        { name: '1080p', width: 1920, height: 1080, bitrateKbps: 5000, fps: 30, codec: 'h264' },
        { name: '720p', width: 1280, height: 720, bitrateKbps: 3000, fps: 30, codec: 'h264' },
        { name: '480p', width: 854, height: 480, bitrateKbps: 1500, fps: 30, codec: 'h264' },
        { name: '360p', width: 640, height: 360, bitrateKbps: 800, fps: 30, codec: 'h264' },
      ],
      preset: 'veryfast',
      segmentSeconds: 2,
      partSeconds: 0.5,
      lowLatency: true,
      windowSegments: 6,
      audioKbps: 128,
      lingerSeconds: 30,
      reconnectGraceSeconds: 10,
      memoryPerStreamMb: 64,
      maxBacklogBytes: 8 * 1024 * 1024,
      passthrough: true,
    },
    ffmpeg: { path: '', encoder: 'auto', vaapiDevice: '', cacheDir: '', probeTimeoutMs: 15_000 },
    auth: {
      enabled: false,
      keys: [],
      secrets: [],
      signedUrlMaxTtlSeconds: 7 * 86400,
      webhookUrl: '',
      webhookSecret: '',
      webhookTimeoutMs: 3000,
      webhookFailOpen: false,
      playback: false,
    },
    grpc: { host: '0.0.0.0', port: 50053, drainGraceMs: 2000 },
    http: { host: '0.0.0.0', port: 8080 },
    log: { level: 'info', format: 'auto' },
  } satisfies z.input<typeof configSchema>),
);
