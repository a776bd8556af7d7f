import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseApp, parseStreamName } from '../../src/streams/stream-key.ts';

describe('stream keys', () => {
  test('plain keys and keys with a query string', () => {
    const plain = parseStreamName('my_stream');
    assert.equal(plain.key, 'my_stream');
    assert.deepEqual({ ...plain.query }, {});
    const { key, query } = parseStreamName('cam-1.main?token=abc%20d&exp=12');
    assert.equal(key, 'cam-1.main');
    assert.deepEqual({ ...query }, { token: 'abc d', exp: '12' });
  });

  const refused: [string, unknown][] = [
    ['false', false],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['empty', ''],
    ['only a query', '?token=1'],
    ['../', '../etc'],
    ['..', '..'],
    ['a slash', 'a/b'],
    ['%2e%2e', '%2e%2e'],
    ['a percent-encoded slash', 'a%2fb'],
    ['NUL', 'abc\u0000def'],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-x'],
    ['a space', 'a b'],
    ['a backslash', 'a\\b'],
    ['over 128 bytes', 'k'.repeat(129)],
    ['over 256 bytes', 'k'.repeat(300)],
    ['non-ASCII', 'caf\u00e9'],
  ];
  for (const [what, name] of refused) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parseStreamName(name), { code: 'ERR_STREAM_KEY_INVALID' });
    });
  }

  test('128-byte keys are fine', () => {
    assert.equal(parseStreamName('k'.repeat(128)).key.length, 128);
  });

  test('query keys cannot pollute prototypes', () => {
    const { query } = parseStreamName('k?__proto__=x&constructor=y');
    assert.equal(query['__proto__'], 'x');
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });

  test('normaliseApp drops query and trailing slashes', () => {
    assert.equal(normaliseApp('live'), 'live');
    assert.equal(normaliseApp('live/'), 'live');
    assert.equal(normaliseApp('live?token=1'), 'live');
    assert.equal(normaliseApp(5), undefined);
  });
});
