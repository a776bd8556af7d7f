import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../../src');

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * The relative specifiers of a file's `import … from`, `export … from` and
 * `import '…'` (type-only ones included: a type cycle is still a cycle in the design).
 */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

/** The import graph of `files`: file → the files it names, relative specifiers only. */
function graph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const targets = specifiers(readFileSync(file, 'utf8'))
      .map((s) => resolve(dirname(file), s))
      .filter((t) => known.has(t));
    edges.set(file, targets);
  }
  return edges;
}

/** Every cycle a DFS finds (one per back edge), each as the list of files around it. */
export function cycles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 1);
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      const s = state.get(next);
      if (s === 1) found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 2);
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

describe('architecture: imports', () => {
  test('the detector finds a cycle, type-only imports included, and none in a chain', () => {
    const a = '/x/a.ts';
    const b = '/x/b.ts';
    const c = '/x/c.ts';
    assert.deepEqual(specifiers("import type { X } from './b.ts';\nexport { y } from \"../c.ts\";\nimport 'node:fs';\nimport './d.ts';"), ['./b.ts', '../c.ts', './d.ts']);
    assert.deepEqual(cycles(new Map([[a, [b]], [b, [c]], [c, [a]]])), [[a, b, c, a]]);
    assert.deepEqual(cycles(new Map([[a, [b]], [b, [c]], [c, []]])), []);
  });

  test('no import cycles among src/ files', () => {
    const files = sources(SRC);
    assert.ok(files.length > 50, `only ${files.length} source files found under ${SRC}`);
    const found = cycles(graph(files));
    const shown = found.map((cycle) => cycle.map((f) => relative(SRC, f)).join(' → '));
    assert.deepEqual(shown, [], `import cycles:\n${shown.join('\n')}`);
  });
});
