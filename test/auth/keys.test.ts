import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { keyId, KeyList } from '../../src/auth/keys.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('a key is allowed when listed as itself or as its sha256: hash', () => {
  const list = new KeyList(['plain_key', `sha256:${sha('hashed-key')}`]);
  assert.equal(list.size, 2);
  assert.equal(list.has('plain_key'), true);
  assert.equal(list.has('hashed-key'), true);
  assert.equal(list.has('plain_key2'), false);
  assert.equal(list.has('Plain_key'), false);
  // The hash itself is not a key.
  assert.equal(list.has(`sha256:${sha('hashed-key')}`), false);
  assert.equal(list.has(sha('hashed-key')), false);
  assert.equal(new KeyList([]).has('anything'), false);
});

test('key ids: sha256: and 12 hex digits of the SHA-256, a prefix of the configured hash', () => {
  assert.equal(keyId('cam1'), `sha256:${sha('cam1').slice(0, 12)}`);
  assert.notEqual(keyId('cam1'), keyId('cam2'));
  assert.ok(`sha256:${sha('cam1')}`.startsWith(keyId('cam1')));
});

