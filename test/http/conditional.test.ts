import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ifRangeAllows, isNotModified } from '../../src/http/conditional.ts';

describe('conditional requests', () => {
  const v = { etag: 'W/"3e8-17985d7ce8d0b915"', mtimeS: 1_700_000_000 };
  const lastModified = new Date(v.mtimeS * 1000).toUTCString();

  test('If-None-Match uses weak comparison, lists and *', () => {
    assert.equal(isNotModified({ 'if-none-match': v.etag }, v), true);
    assert.equal(isNotModified({ 'if-none-match': v.etag.slice(2) }, v), true);
    assert.equal(isNotModified({ 'if-none-match': `W/"x", ${v.etag}` }, v), true);
    assert.equal(isNotModified({ 'if-none-match': '*' }, v), true);
    assert.equal(isNotModified({ 'if-none-match': 'W/"other"' }, v), false);
  });

  test('If-Modified-Since counts only without If-None-Match', () => {
    assert.equal(isNotModified({ 'if-modified-since': lastModified }, v), true);
    assert.equal(isNotModified({ 'if-modified-since': new Date((v.mtimeS - 1) * 1000).toUTCString() }, v), false);
    assert.equal(isNotModified({ 'if-modified-since': 'garbage' }, v), false);
    assert.equal(isNotModified({ 'if-none-match': 'W/"other"', 'if-modified-since': lastModified }, v), false);
    assert.equal(isNotModified({}, v), false);
  });

  test('If-Range passes only an exact Last-Modified date', () => {
    assert.equal(ifRangeAllows({}, v), true);
    assert.equal(ifRangeAllows({ 'if-range': lastModified }, v), true);
    assert.equal(ifRangeAllows({ 'if-range': v.etag }, v), false);
    assert.equal(ifRangeAllows({ 'if-range': new Date(0).toUTCString() }, v), false);
  });
});
