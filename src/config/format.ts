/**
 * Writes a configuration as commented YAML: used by `--print-config`, and
 * `appliance/config.yaml` is exactly `formatConfigYaml(DEFAULT_CONFIG)`.
 */
import { createHash } from 'node:crypto';
import {
  CONFIG_KEYS,
  DEFAULT_CONFIG,
  FIELDS,
  HIDDEN_VALUE,
  SECTIONS,
  SECTION_DESCRIPTIONS,
  getValue,
  splitKey,
  type Config,
  type ConfigKey,
} from './schema.ts';

/** How formatConfigYaml writes the configuration. */
export interface FormatOptions {
  /**
   * Hide secret values (FIELDS[key].secret): stream keys of auth.keys are written as
   * their `sha256:` form (which allows the same keys), other secrets as `(hidden)`;
   * empty values stay as they are. Default false: the output loads back unchanged.
   */
  redactSecrets?: boolean;
}

/** A secret value as `--print-config` shows it (see FormatOptions.redactSecrets). */
export function redactedValue(key: ConfigKey, value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map((item: unknown) => {
      if (key !== 'auth.keys' || typeof item !== 'string') return HIDDEN_VALUE;
      return item.startsWith('sha256:') ? item : `sha256:${createHash('sha256').update(item, 'utf8').digest('hex')}`;
    });
  }
  return value === '' ? value : HIDDEN_VALUE;
}

const HEADER = `# proxy-rtmp configuration.
#
# Values apply in this order, each overriding the one before: built-in defaults,
# this file, environment variables. A key left out keeps its default; an unknown
# key is an error. Each key's comment names the environment variable that
# overrides it and the built-in default.
`;

/** A scalar as YAML: numbers bare, strings double-quoted (JSON strings are valid YAML). */
function scalar(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/**
 * A value after its key: a scalar on the same line, a list as a block list
 * below it (one mapping per item, keys in schema order), so that lists such
 * as `transcode.ladder` stay readable and load back unchanged.
 */
function value(value: unknown, indent: string): string {
  if (!Array.isArray(value)) return ` ${scalar(value)}`;
  if (value.length === 0) return ' []';
  const items = value.map((item: unknown) => {
    if (typeof item !== 'object' || item === null) return `${indent}- ${scalar(item)}`;
    const fields = Object.entries(item).map(([k, v]) => `${k}: ${scalar(v)}`);
    return `${indent}- ${fields.join(`\n${indent}  `)}`;
  });
  return `\n${items.join('\n')}`;
}

/** A default as the comment shows it: a list of named items by its names (the full list is in the file). */
function summary(value: unknown): string {
  if (!Array.isArray(value)) return scalar(value);
  if (value.length === 0) return '[] (none)';
  const names = value.map((item: unknown) => (item as { name?: unknown } | null)?.name);
  if (names.every((name) => typeof name === 'string')) return names.join(', ');
  return JSON.stringify(value);
}

/**
 * `config` as YAML, every key preceded by comments giving its one-line
 * description, its environment variable and its built-in default. Loading the output gives
 * back `config` exactly, unless secrets are redacted.
 */
export function formatConfigYaml(config: Config, options: FormatOptions = {}): string {
  const lines: string[] = [HEADER];
  for (const section of SECTIONS) {
    lines.push(`# ${SECTION_DESCRIPTIONS[section]}`, `${section}:`);
    for (const key of CONFIG_KEYS) {
      const [owner, leaf] = splitKey(key);
      if (owner !== section) continue;
      const { description, env, secret } = FIELDS[key];
      const shown = secret === true && options.redactSecrets === true ? redactedValue(key, getValue(config, key)) : getValue(config, key);
      lines.push(
        `  # ${description}.`,
        `  # Env ${env}; default ${summary(getValue(DEFAULT_CONFIG, key))}.`,
        `  ${leaf}:${value(shown, '    ')}`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
