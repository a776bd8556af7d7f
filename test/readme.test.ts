import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configTable } from '../build/config-table.ts';

test('the README configuration table is the one generated from the schema', () => {
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('<!-- config-table:start -->\n');
  const end = readme.indexOf('<!-- config-table:end -->');
  assert.ok(start >= 0 && end > start, 'markers present');
  assert.equal(
    readme.slice(start + '<!-- config-table:start -->\n'.length, end).trim(),
    configTable(),
    'regenerate with: node --import tsx build/config-table.ts',
  );
});
