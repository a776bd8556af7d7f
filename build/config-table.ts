/**
 * Prints the README's configuration table from the config schema, so the two
 * cannot drift (test/readme.test.ts compares them). Run with
 * `node --import tsx build/config-table.ts` and paste between the markers.
 */
import { DEFAULT_CONFIG, ENV_VARS } from '../src/config/index.ts';

/** The markdown table: key, environment variable, default, meaning. */
export function configTable(): string {
  const rows = ENV_VARS.map((v) => {
    const [section, field] = v.key.split('.') as [keyof typeof DEFAULT_CONFIG, string];
    const value = (DEFAULT_CONFIG[section] as Record<string, unknown>)[field];
    // Lists (the ladder) as compact JSON, the form their variable takes.
    const shown = Array.isArray(value) ? JSON.stringify(value) : String(value);
    return `| \`${v.key}\` | \`${v.name}\` | \`${shown}\` | ${v.description.replace(/\.?$/, ".")} Accepts ${v.expected}. |`;
  });
  return ['| Key | Environment variable | Default | Meaning |', '|---|---|---|---|', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${configTable()}\n`);
