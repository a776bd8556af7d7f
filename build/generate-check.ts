/**
 * Proves src/gen is exactly what `buf generate` makes from proto/ today:
 * regenerates into a temporary directory (buf's `-o` prefixes buf.gen.yaml's
 * `out: src/gen`) and compares file lists and bytes. Exits 1 naming every
 * stale, missing or extra file. Run with `npm run generate:check`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One difference between the checked-in and the regenerated tree. */
export interface GenDifference {
  file: string;
  kind: 'changed' | 'missing' | 'extra';
}

async function listFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const entry of entries.sort()) {
    const full = join(dir, entry);
    try {
      out.set(relative(dir, full), await readFile(full));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
    }
  }
  return out;
}

/**
 * Regenerates with the repository's buf.gen.yaml and returns the differences
 * from `<root>/src/gen` (empty when up to date).
 */
export async function checkGenerated(root = process.cwd()): Promise<GenDifference[]> {
  const tmp = await mkdtemp(join(tmpdir(), 'proxy-rtmp-gen-'));
  try {
    const buf = resolve(root, 'node_modules/.bin/buf');
    await run(buf, ['generate', '-o', tmp], { cwd: root });
    const fresh = await listFiles(join(tmp, 'src/gen'));
    const current = await listFiles(join(root, 'src/gen'));
    const diffs: GenDifference[] = [];
    for (const [file, bytes] of fresh) {
      const have = current.get(file);
      if (have === undefined) diffs.push({ file, kind: 'missing' });
      else if (!have.equals(bytes)) diffs.push({ file, kind: 'changed' });
    }
    for (const file of current.keys()) {
      if (!fresh.has(file)) diffs.push({ file, kind: 'extra' });
    }
    return diffs;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const diffs = await checkGenerated();
  if (diffs.length > 0) {
    process.stderr.write('src/gen is out of date with proto/ — run `npm run generate`:\n');
    for (const d of diffs) process.stderr.write(`  ${d.kind}: src/gen/${d.file}\n`);
    process.exit(1);
  }
  process.stdout.write('src/gen is up to date\n');
}
