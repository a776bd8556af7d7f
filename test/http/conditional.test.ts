import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ifRangeAllows, isNotModified, weakEtag } from '../../src/http/conditional.ts';

describe('conditional requests', () => {
  const v = { etag: weakEtag(1000n, 1_700_000_000_123_456_789n), mtimeS: 1_700_000_000 };
  const lastModified = new Date(v.mtimeS * 1000).toUTCString();

  test('weak ETag depends on size and nanosecond mtime', () => {
    assert.match(v.etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    assert.notEqual(weakEtag(1000n, 1_700_000_000_123_456_790n), v.etag);
    assert.notEqual(weakEtag(1001n, 1_700_000_000_123_456_789n), v.etag);
  });

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
