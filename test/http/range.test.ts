import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRange, type RangeResult } from '../../src/http/range.ts';

describe('parseRange', () => {
  const cases: [string | undefined, number, RangeResult][] = [
    [undefined, 100, { kind: 'full' }],
    ['bytes=0-9', 100, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=10-', 100, { kind: 'partial', start: 10, end: 99 }],
    ['bytes=-10', 100, { kind: 'partial', start: 90, end: 99 }],
    ['bytes=-1000', 100, { kind: 'partial', start: 0, end: 99 }],
    ['bytes=90-1000', 100, { kind: 'partial', start: 90, end: 99 }],
    ['bytes=99-99', 100, { kind: 'partial', start: 99, end: 99 }],
    ['Bytes = 0 - 1', 100, { kind: 'partial', start: 0, end: 1 }],
    ['bytes=0-99999999999999999999999', 100, { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=100-200', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', 100, { kind: 'full' }],
    ['bytes=5-1', 100, { kind: 'full' }],
    ['bytes=-', 100, { kind: 'full' }],
    ['bytes=a-b', 100, { kind: 'full' }],
    ['items=0-1', 100, { kind: 'full' }],
    ['', 100, { kind: 'full' }],
  ];
  for (const [header, size, expected] of cases) {
    test(`${String(header)} of ${size}`, () => assert.deepEqual(parseRange(header, size), expected));
  }
});
