/**
 * Loads the configuration like MediaMTX does: built-in defaults, then the YAML
 * file (optional), then `RTMP_*` environment variables, each value validated
 * where it is read so that an error names the key, where the value came from,
 * the value itself and what was expected. The result is deeply frozen.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isAlias, isCollection, isMap, isNode, isScalar, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.ts';
import { readEnv } from './env.ts';
import {
  CONFIG_KEYS,
  DEFAULT_CONFIG,
  FIELDS,
  HIDDEN_VALUE,
  SECTIONS,
  configSchema,
  deepFreeze,
  expectedValue,
  innerSchema,
  leafSchema,
  splitKey,
  type Config,
  type ConfigKey,
  type SectionName,
} from './schema.ts';

/** Where `loadConfig` reads from. */
export interface LoadConfigOptions {
  /** YAML file to read; a missing file is an error. Without it only defaults and env apply. */
  path?: string;
  /** Environment to read `RTMP_*` variables from; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /** YAML text to use instead of reading `path` (`path` then only labels messages). */
  yamlText?: string;
}

/** A mutable copy of the configuration while sources are applied. */
type Draft = Record<SectionName, Record<string, unknown>>;

/**
 * Builds the configuration: defaults → YAML → environment → validation →
 * deep freeze. Throws one `ConfigError` listing every unknown key and invalid
 * value (unknown keys come with a "did you mean" when one is close), or naming
 * the file when it is missing or its YAML does not parse (with line and column).
 * Unknown `RTMP_*` variables are ignored: other tools share the prefix.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const draft = structuredClone(DEFAULT_CONFIG) as Draft;
  const problems: string[] = [];

  if (options.path !== undefined || options.yamlText !== undefined) {
    const label = options.path === undefined ? 'YAML text' : resolve(options.path);
    const text = options.yamlText ?? readConfigFile(label);
    applyYaml(text, label, draft, problems);
  }

  for (const found of readEnv(options.env ?? process.env)) {
    setLeaf(draft, problems, found.key, found.value, () => `from ${found.name}`, `'${found.raw}'`);
  }

  if (problems.length === 1) throw new ConfigError(problems[0]!);
  if (problems.length > 1) {
    throw new ConfigError(`${problems.length} configuration problems:\n  ${problems.join('\n  ')}`);
  }

  const parsed = configSchema.safeParse(draft);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`, { cause: parsed.error });
  }
  return deepFreeze(parsed.data);
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`config file not found: ${path}`, { cause: err });
    throw new ConfigError(`cannot read config file ${path}: ${code ?? String(err)}`, { cause: err });
  }
}

/** Where a value (or a part of it, by path inside the key) came from: `from RTMP_PORT`. */
type SourceOf = (path: readonly PropertyKey[]) => string;

/**
 * Validates one value against its key's schema and stores the normalised
 * result. A problem inside a list or mapping value names the full path
 * (`transcode.ladder[1].height`) and shows the part that is wrong; a problem
 * with the value as a whole shows `shown`.
 */
function setLeaf(
  draft: Draft,
  problems: string[],
  key: ConfigKey,
  value: unknown,
  sourceOf: SourceOf,
  shown: string,
): void {
  const result = value === undefined ? undefined : leafSchema(key).safeParse(value);
  if (result?.success) {
    const [section, leaf] = splitKey(key);
    draft[section][leaf] = result.data;
    return;
  }
  if (FIELDS[key].secret === true) shown = HIDDEN_VALUE;
  const issues = result?.error.issues ?? [];
  const nested = issues.filter((issue) => issue.path.length > 0);
  const messages = new Set<string>();
  if (nested.length < issues.length || issues.length === 0) {
    messages.add(`${key} (${sourceOf([])}): expected ${expectedValue(key)}, got ${shown}`);
  }
  for (const issue of nested) {
    const where = `${key}${pathText(issue.path)}`;
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys((innerSchema(key, issue.path) as { shape?: object } | undefined)?.shape ?? {});
      for (const extra of issue.keys) {
        const hint = closest(extra, known);
        messages.add(
          `${where} (${sourceOf([...issue.path, extra])}): unknown key '${extra}'${hint === undefined ? '' : `; did you mean '${hint}'?`}`,
        );
      }
    } else {
      const part = valueAt(value, issue.path);
      const expected = issue.code === 'custom' ? issue.message : (innerSchema(key, issue.path)?.description ?? issue.message);
      const got = part === undefined ? 'nothing (the key is missing)' : FIELDS[key].secret === true ? HIDDEN_VALUE : show(part);
      messages.add(`${where} (${sourceOf(issue.path)}): expected ${expected}, got ${got}`);
    }
  }
  problems.push(...messages);
}

/** `[1, 'height']` → `[1].height`. */
function pathText(path: readonly PropertyKey[]): string {
  return path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`)).join('');
}

/** The part of `value` at `path`, or `undefined`. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let here = value;
  for (const segment of path) {
    if (typeof here !== 'object' || here === null || !Object.hasOwn(here, segment)) return undefined;
    here = (here as Record<PropertyKey, unknown>)[segment];
  }
  return here;
}

function applyYaml(text: string, label: string, draft: Draft, problems: string[]): void {
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema: `yes`/`on` stay strings and `<<` is an ordinary (unknown) key.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, merge: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    const pos = error.linePos?.[0];
    const where = pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`;
    const reason = error.message.split(/ at line \d+, column \d+/)[0];
    throw new ConfigError(`invalid YAML in ${label}${where}: ${reason}`, { cause: error });
  }

  const at = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0];
    if (offset === undefined) return '';
    const { line, col } = lineCounter.linePos(offset);
    return ` (line ${line}, column ${col})`;
  };
  const sourceOf = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? `from ${label}` : `from ${label}, line ${lineCounter.linePos(offset).line}`;
  };
  const unknown = (key: string, node: Node | null | undefined): void => {
    const hint = suggestKey(key);
    problems.push(`unknown key '${key}' in ${label}${at(node)}${hint === undefined ? '' : `; did you mean '${hint}'?`}`);
  };

  const root = resolveAlias(doc, doc.contents);
  if (isEmpty(root)) return;
  if (!isMap(root)) {
    problems.push(`${label}${at(root)}: expected a mapping of sections (${SECTIONS.join(', ')}), got ${show(root.toJS(doc))}`);
    return;
  }
  for (const pair of root.items) {
    const keyNode = pair.key as Node | null;
    const section = keyName(keyNode);
    if (!(SECTIONS as readonly string[]).includes(section)) {
      unknown(section, keyNode);
      continue;
    }
    const body = resolveAlias(doc, pair.value as Node | null);
    // `rtmp:` with nothing under it (or only comments) keeps the defaults.
    if (isEmpty(body)) continue;
    if (!isMap(body)) {
      problems.push(`${section} (${sourceOf(body)}): expected a mapping of keys, got ${show(body.toJS(doc))}`);
      continue;
    }
    for (const item of body.items) {
      const leafNode = item.key as Node | null;
      const key = `${section}.${keyName(leafNode)}`;
      if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
        unknown(key, leafNode);
        continue;
      }
      const valueNode = item.value as Node | null;
      const value: unknown = valueNode === null ? null : valueNode.toJS(doc);
      // A problem inside a list or mapping names the line of the part that is wrong.
      const partSource = (path: readonly PropertyKey[]): string => {
        if (!isCollection(valueNode)) return sourceOf(valueNode ?? leafNode);
        for (let n = path.length; n > 0; n--) {
          const part = valueNode.getIn(path.slice(0, n), true) as unknown;
          if (isNode(part)) return sourceOf(part);
        }
        return sourceOf(valueNode);
      };
      setLeaf(draft, problems, key as ConfigKey, value, partSource, show(value));
    }
  }
}

function resolveAlias(doc: Document, node: Node | null | undefined): Node | null {
  if (node === null || node === undefined) return null;
  return isAlias(node) ? (node.resolve(doc) ?? null) : node;
}

function isEmpty(node: Node | null): node is null {
  return node === null || (isScalar(node) && node.value === null);
}

function keyName(node: Node | null): string {
  if (node === null) return '';
  return isScalar(node) ? String(node.value) : String(node);
}

/** A value as an error message shows it. */
function show(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 80 ? `${value.slice(0, 77)}...` : value}'`;
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) {
    return value.length === 0 ? 'an empty list' : `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/**
 * The known key closest to a mistyped one: the same key written as its
 * environment variable (`RTMP_PORT` → `rtmp.port`), the same letters in another
 * case or with `_`/`-` (`rtmp.chunk_size` → `rtmp.chunkSize`), or anything
 * within edit distance 2 among keys at the same depth.
 */
function suggestKey(key: string): string | undefined {
  const last = key.slice(key.lastIndexOf('.') + 1);
  const byEnv = CONFIG_KEYS.find((known) => FIELDS[known].env === last);
  if (byEnv !== undefined) return byEnv;

  const candidates: readonly string[] = key.includes('.') ? CONFIG_KEYS : SECTIONS;
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const same = candidates.find((known) => squash(known) === squash(key));
  if (same !== undefined) return same;

  let best: string | undefined;
  let bestDistance = 3;
  for (const known of candidates) {
    const distance = editDistance(key, known);
    if (distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  return best;
}

/** The name in `known` closest to `name` (same letters in another case, or edit distance ≤ 2). */
function closest(name: string, known: readonly string[]): string | undefined {
  const same = known.find((k) => k.toLowerCase() === name.toLowerCase());
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const distance = editDistance(name, k);
    if (distance < bestDistance) {
      best = k;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
