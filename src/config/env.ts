/**
 * Environment variables: one `RTMP_*` variable per configuration key. Values
 * are strings and are parsed strictly: integers are plain decimal digits,
 * numbers are decimals (no exponent, hex, `Infinity` or surrounding spaces),
 * enums match case-sensitively, lists (`RTMP_LADDER`) are JSON, and an empty
 * value is an error rather than "unset".
 */
import { CONFIG_KEYS, FIELDS, expectedValue, type ConfigKey } from './schema.ts';

/** One environment variable and the key it overrides. */
export interface EnvVar {
  /** Variable name, e.g. `RTMP_PORT`. */
  name: string;
  /** Dotted configuration key, e.g. `rtmp.port`. */
  key: string;
  /** One line for people; the README's config table is written from it. */
  description: string;
  /** What the key accepts, in words ("an integer between 0 and 65535"). */
  expected: string;
}

/** Every environment variable, one per key, in config-file order. */
export const ENV_VARS: readonly EnvVar[] = Object.freeze(
  CONFIG_KEYS.map((key) =>
    Object.freeze({
      name: FIELDS[key].env,
      key,
      description: FIELDS[key].description,
      expected: expectedValue(key),
    }),
  ),
);

/** A value read from the environment, still to be validated by the key's schema. */
export interface EnvValue {
  key: ConfigKey;
  /** The variable it came from. */
  name: string;
  /** The string as found in the environment. */
  raw: string;
  /** `raw` converted to the key's type (parsed JSON for `json` keys), or `undefined` if it does not parse. */
  value: unknown;
}

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?(?:\d+(?:\.\d+)?|\.\d+)$/;

/** Collects every known variable that is set in `env`; others (`RTMP_FOO`) are ignored. */
export function readEnv(env: Readonly<Record<string, string | undefined>>): EnvValue[] {
  const found: EnvValue[] = [];
  for (const key of CONFIG_KEYS) {
    const { env: name, kind } = FIELDS[key];
    if (!Object.hasOwn(env, name)) continue;
    const raw = env[name];
    if (raw === undefined) continue;
    let value: unknown = raw;
    // `+ 0` turns '-0' into 0.
    if (kind === 'integer') value = INTEGER.test(raw) ? Number(raw) + 0 : undefined;
    else if (kind === 'number') value = DECIMAL.test(raw) ? Number(raw) + 0 : undefined;
    else if (kind === 'boolean') value = raw === 'true' ? true : raw === 'false' ? false : undefined;
    else if (kind === 'json') value = parseJson(raw);
    found.push({ key, name, raw, value });
  }
  return found;
}

/** `JSON.parse(raw)`, or `undefined` when `raw` is not JSON (JSON has no `undefined`). */
function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
