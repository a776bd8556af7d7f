import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { rewriteDashManifest, rewriteHlsPlaylist, tokenEtag, tokenRewriterFor, withQuery } from '../../src/http/token-rewrite.ts';

const TOKEN = 'exp=1700000060&sig=' + 'ab'.repeat(32);

test('withQuery appends to relative references only, before any fragment', () => {
  assert.equal(withQuery('media_0.m3u8', 'a=1'), 'media_0.m3u8?a=1');
  assert.equal(withQuery('chunk.m4s?x=2', 'a=1'), 'chunk.m4s?x=2&a=1');
  assert.equal(withQuery('chunk.m4s?', 'a=1'), 'chunk.m4s?a=1');
  assert.equal(withQuery('../k/init.m4s#t=1', 'a=1'), '../k/init.m4s?a=1#t=1');
  // Never hand the token to another host.
  assert.equal(withQuery('https://cdn.example.com/x.m4s', 'a=1'), 'https://cdn.example.com/x.m4s');
  assert.equal(withQuery('//cdn.example.com/x.m4s', 'a=1'), '//cdn.example.com/x.m4s');
  assert.equal(withQuery('data:text/plain,hi', 'a=1'), 'data:text/plain,hi');
});

test('HLS: every URI line and URI attribute carries the token; tags and line endings are kept', () => {
  const master = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="audio",URI="media_1.m3u8"',
    '#EXT-X-STREAM-INF:BANDWIDTH=464000,RESOLUTION=320x240,CODECS="avc1.64000d,mp4a.40.2",AUDIO="a"',
    'media_0.m3u8',
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframes.m3u8"',
    '',
  ].join('\r\n');
  const out = rewriteHlsPlaylist(master, TOKEN);
  assert.equal(
    out,
    [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="audio",URI="media_1.m3u8?${TOKEN}"`,
      '#EXT-X-STREAM-INF:BANDWIDTH=464000,RESOLUTION=320x240,CODECS="avc1.64000d,mp4a.40.2",AUDIO="a"',
      `media_0.m3u8?${TOKEN}`,
      `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframes.m3u8?${TOKEN}"`,
      '',
    ].join('\r\n'),
  );
  const media = '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="init-0.m4s"\n#EXTINF:1.000000,\nchunk-0-00001.m4s\n#EXT-X-ENDLIST\n';
  assert.equal(
    rewriteHlsPlaylist(media, TOKEN),
    `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="init-0.m4s?${TOKEN}"\n#EXTINF:1.000000,\nchunk-0-00001.m4s?${TOKEN}\n#EXT-X-ENDLIST\n`,
  );
});

test('DASH: SegmentTemplate media/initialization, SegmentURL, BaseURL and Location carry the XML-escaped token', () => {
  const mpd = `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic">
  <Location>manifest.mpd</Location>
  <Period id="0" start="PT0.0S">
    <BaseURL>./</BaseURL>
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <Representation id="0" bandwidth="300000" width="320" height="240">
        <SegmentTemplate timescale="1000000" initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
        </SegmentTemplate>
      </Representation>
      <Representation id="1"><SegmentList><Initialization sourceURL='init-1.m4s'/><SegmentURL media="s-1.m4s?v=2"/></SegmentList></Representation>
      <Representation id="2"><BaseURL>https://cdn.example.com/</BaseURL></Representation>
    </AdaptationSet>
  </Period>
</MPD>
`;
  const x = TOKEN.replace('&', '&amp;');
  const out = rewriteDashManifest(mpd, TOKEN);
  assert.ok(out.includes(`<Location>manifest.mpd?${x}</Location>`), out);
  assert.ok(out.includes(`<BaseURL>./?${x}</BaseURL>`), out);
  assert.ok(out.includes(`initialization="init-$RepresentationID$.m4s?${x}"`), out);
  assert.ok(out.includes(`media="chunk-$RepresentationID$-$Number%05d$.m4s?${x}"`), out);
  assert.ok(out.includes(`sourceURL='init-1.m4s?${x}'`), out);
  assert.ok(out.includes(`media="s-1.m4s?v=2&amp;${x}"`), out);
  assert.ok(out.includes('<BaseURL>https://cdn.example.com/</BaseURL>'), 'absolute URLs are left alone');
  assert.ok(!/&(?!amp;)/.test(out), 'no raw & in the XML');
  assert.equal(out.split(`?${x}`).join('').split(`&amp;${x}`).join(''), mpd, 'nothing else changed');
});

test('property: removing the token gives the playlist back; every URI line carries it', () => {
  const uri = fc.stringMatching(/^[a-z0-9_-]{1,12}\.(m3u8|m4s)$/);
  const line = fc.oneof(uri, fc.constantFrom('#EXTINF:1.0,', '#EXT-X-TARGETDURATION:2', ''), uri.map((u) => `#EXT-X-MAP:URI="${u}"`));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
      const text = `#EXTM3U\n${lines.join('\n')}\n`;
      const out = rewriteHlsPlaylist(text, TOKEN);
      assert.equal(out.split(`?${TOKEN}`).join(''), text);
      for (const l of out.split('\n')) if (l !== '' && !l.startsWith('#')) assert.ok(l.endsWith(`?${TOKEN}`), l);
    }),
  );
});

test('rewriters by file type, and a per-token ETag', () => {
  assert.equal(tokenRewriterFor('master.m3u8'), rewriteHlsPlaylist);
  assert.equal(tokenRewriterFor('manifest.mpd'), rewriteDashManifest);
  assert.equal(tokenRewriterFor('chunk-0-00001.m4s'), undefined);
  const etag = 'W/"1f-17f0c3d2e4a5b6c7"';
  assert.match(tokenEtag(etag, TOKEN), /^W\/"1f-17f0c3d2e4a5b6c7-[0-9a-f]{12}"$/);
  assert.notEqual(tokenEtag(etag, TOKEN), tokenEtag(etag, `${TOKEN}0`));
  assert.equal(tokenEtag(etag, TOKEN), tokenEtag(etag, TOKEN));
});
