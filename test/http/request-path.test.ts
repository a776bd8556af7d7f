import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePathname, parseStreamPath } from '../../src/http/request-path.ts';

describe('parseStreamPath', () => {
  const accepted: [string, { key: string; file: string }][] = [
    ['/streams/live/master.m3u8', { key: 'live', file: 'master.m3u8' }],
    ['/streams/live/media_0.m3u8', { key: 'live', file: 'media_0.m3u8' }],
    ['/streams/live/dash/manifest.mpd', { key: 'live', file: 'manifest.mpd' }],
    ['/streams/live/dash/chunk-0-00001.m4s', { key: 'live', file: 'chunk-0-00001.m4s' }],
    ['/streams/a.b-c_d/init-0.m4s', { key: 'a.b-c_d', file: 'init-0.m4s' }],
    ['/streams/dash/master.m3u8', { key: 'dash', file: 'master.m3u8' }],
    ['/streams/%6Cive/master.m3u8', { key: 'live', file: 'master.m3u8' }],
  ];
  for (const [path, expected] of accepted) {
    test(`accepts ${path}`, () => assert.deepEqual(parseStreamPath(path), expected));
  }

  const refused = [
    '/streams/../etc/passwd',
    '/streams/%2e%2e/x',
    '/streams/k/%2e%2e%2fx',
    '/streams/k/..%5cx',
    '/streams/k/%252e%252e%252fx',
    '/streams/k/%2e%2e',
    '/streams/k/a..b.m4s',
    '/streams/k/%00.m4s',
    '/streams/k/x%00.m4s',
    '/streams/k/.hidden.m4s',
    '/streams/k/.master.m3u8',
    '/streams/k/-dash.m4s',
    '/streams/k/a%2fb.m4s',
    '/streams/k/a%5cb.m4s',
    '/streams/k/a b.m4s',
    '/streams/k/%E0%A4%A.m4s',
    '/streams/k//x.m4s',
    '/streams/k/',
    '/streams/k',
    '/streams/',
    '/streams/k/sub/x.m4s',
    '/streams/k/dash/sub/x.m4s',
    '/streams/k/dash/',
    '/other/k/x.m4s',
    `/streams/${'a'.repeat(129)}/x.m4s`,
    `/streams/k/${'a'.repeat(125)}.m4s`,
  ];
  for (const path of refused) {
    test(`refuses ${path.slice(0, 60)}`, () => assert.equal(parseStreamPath(path), undefined));
  }
});

describe('parsePathname', () => {
  test('drops the query and refuses non-origin forms', () => {
    assert.equal(parsePathname('/streams/k/media_0.m3u8?_HLS_msn=4'), '/streams/k/media_0.m3u8');
    assert.equal(parsePathname('/metrics'), '/metrics');
    assert.equal(parsePathname('http://host/streams/k/x.m4s'), undefined);
    assert.equal(parsePathname('*'), undefined);
  });
});
