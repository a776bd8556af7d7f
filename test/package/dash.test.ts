import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { frameRate, mediaTemplate, mpd } from '../../src/package/dash.ts';
import type { Rendition } from '../../src/package/types.ts';
import { rendition, run, snapshot, windowArbitrary, windowOf } from './snapshot-builder.ts';

interface Element {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: Element[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescape(text: string): string {
  return text.replace(/&([a-z]+);/g, (whole, name: string) => {
    assert.ok(name in ENTITIES, `unknown entity ${whole}`);
    return ENTITIES[name]!;
  });
}

/** A tag balancer that builds a tree: enough XML to check our MPDs are well-formed (one root, every tag closed, attributes quoted and unique). */
function parseXml(xml: string): Element {
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n'));
  const body = xml.slice(xml.indexOf('\n') + 1);
  const root: Element = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: Element[] = [root];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  for (let m = token.exec(body); m !== null; m = token.exec(body)) {
    at = token.lastIndex;
    const top = stack.at(-1)!;
    if (m[5] !== undefined) {
      assert.doesNotMatch(m[5], /&(?![a-z]+;)/, 'a raw & in text');
      top.text += unescape(m[5]);
      continue;
    }
    const [, closing, name, attrs, selfClosing] = m as unknown as [string, string, string, string, string];
    if (closing) {
      assert.equal(top.name, name, `</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const a of attrs.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      assert.ok(!(a[1]! in attributes), `duplicate attribute ${a[1]}`);
      assert.doesNotMatch(a[2]!, /&(?![a-z]+;)/, 'a raw & in an attribute');
      attributes[a[1]!] = unescape(a[2]!);
    }
    const element: Element = { name, attributes, children: [], text: '' };
    top.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  assert.equal(at, body.length, `unparsed from ${JSON.stringify(body.slice(at, at + 40))}`);
  assert.equal(stack.length, 1, `unclosed <${stack.at(-1)!.name}>`);
  assert.equal(root.children.length, 1);
  return root.children[0]!;
}

const all = (e: Element, name: string): Element[] => [...(e.name === name ? [e] : []), ...e.children.flatMap((c) => all(c, name))];
const child = (e: Element, name: string): Element | undefined => e.children.find((c) => c.name === name);

/** The segments a Representation's SegmentTemplate describes, with `r` expanded and `$Number$` filled. */
function expand(representation: Element): { msn: number; uri: string; start: number; duration: number }[] {
  const template = child(representation, 'SegmentTemplate')!;
  let number = Number(template.attributes['startNumber']);
  let t = 0;
  const out = [];
  for (const s of child(template, 'SegmentTimeline')!.children) {
    assert.equal(s.name, 'S');
    if (s.attributes['t'] !== undefined) t = Number(s.attributes['t']);
    const d = Number(s.attributes['d']);
    for (let i = 0; i <= Number(s.attributes['r'] ?? 0); i++) {
      out.push({ msn: number, uri: template.attributes['media']!.replace('$Number$', String(number)).replace(/\$\$/g, '$'), start: t, duration: d });
      number++;
      t += d;
    }
  }
  return out;
}

const OPTIONS = { timeUrl: '/time' };

describe('mpd (ISO/IEC 23009-1)', () => {
  it('a small live stream, exactly', () => {
    const v = rendition({ name: '720p', segments: [...run(3), { seconds: 1.9 }, { parts: [0.5], complete: false }], width: 1280, height: 720, frameRate: 30000 / 1001 });
    const a = rendition({ name: 'audio', segments: run(2), sampleRate: 48_000, channels: 2 });
    assert.equal(mpd(snapshot({ video: [v], audio: a }), OPTIONS), [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="2024-01-01T12:00:00.123Z" publishTime="2024-01-01T12:01:00.123Z" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT7.9S" suggestedPresentationDelay="PT6S" minBufferTime="PT2S">',
      '  <ProgramInformation><Title>cam1</Title></ProgramInformation>',
      '  <Period id="0" start="PT0S">',
      '    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="1280" maxHeight="720" maxFrameRate="30000/1001">',
      '      <Representation id="720p" bandwidth="3000000" codecs="avc1.64001f" width="1280" height="720" frameRate="30000/1001">',
      '        <SegmentTemplate timescale="90000" initialization="i0/720p/init.mp4" media="i0/720p/$Number$.m4s" startNumber="1" presentationTimeOffset="0">',
      '          <SegmentTimeline>',
      '            <S t="0" d="180000" r="2"/>',
      '            <S d="171000"/>',
      '          </SegmentTimeline>',
      '        </SegmentTemplate>',
      '      </Representation>',
      '    </AdaptationSet>',
      '    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">',
      '      <Representation id="audio" bandwidth="128000" codecs="mp4a.40.2" audioSamplingRate="48000">',
      '        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>',
      '        <SegmentTemplate timescale="48000" initialization="i0/audio/init.mp4" media="i0/audio/$Number$.m4s" startNumber="1" presentationTimeOffset="0">',
      '          <SegmentTimeline>',
      '            <S t="0" d="96000" r="1"/>',
      '          </SegmentTimeline>',
      '        </SegmentTemplate>',
      '      </Representation>',
      '    </AdaptationSet>',
      '  </Period>',
      '  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/time"/>',
      '</MPD>',
      '',
    ].join('\n'));
  });

  it('a Period per discontinuity value: id, start, startNumber, presentationTimeOffset, its own init', () => {
    const v = rendition({ name: '720p', firstMsn: 40, segments: [...run(2, { discontinuity: 2 }), { seconds: 2, discontinuity: 3, start: 500 }, ...run(1, { discontinuity: 3 })] });
    const root = parseXml(mpd(snapshot({ video: [v] }), OPTIONS));
    const periods = all(root, 'Period');
    assert.deepEqual(periods.map((p) => [p.attributes['id'], p.attributes['start']]), [['2', 'PT78S'], ['3', 'PT500S']]);
    const templates = all(root, 'SegmentTemplate').map((t) => [t.attributes['startNumber'], t.attributes['presentationTimeOffset'], t.attributes['initialization']]);
    assert.deepEqual(templates, [['40', String(78 * 90_000), 'i2/720p/init.mp4'], ['42', String(500 * 90_000), 'i3/720p/init.mp4']]);
  });

  it('discontinuityStarts keeps a Period start fixed after its first segment has left', () => {
    const v = rendition({ name: '720p', firstMsn: 40, segments: run(2, { discontinuity: 2 }) });
    const root = parseXml(mpd(snapshot({ video: [v], discontinuityStarts: new Map([[2, 60.5]]) }), OPTIONS));
    assert.equal(all(root, 'Period')[0]!.attributes['start'], 'PT60.5S');
    assert.equal(all(root, 'SegmentTemplate')[0]!.attributes['presentationTimeOffset'], String(60.5 * 90_000));
  });

  it('static with mediaPresentationDuration once ended; no live-only attribute', () => {
    const v = rendition({ name: '720p', segments: [...run(3), { parts: [0.5], complete: false }] });
    const root = parseXml(mpd(snapshot({ video: [v], ended: true }), { ...OPTIONS, lowLatency: true }));
    assert.equal(root.attributes['type'], 'static');
    assert.equal(root.attributes['mediaPresentationDuration'], 'PT6S');
    for (const name of ['minimumUpdatePeriod', 'timeShiftBufferDepth', 'suggestedPresentationDelay']) assert.equal(root.attributes[name], undefined);
    assert.equal(all(root, 'ServiceDescription').length, 0);
    assert.equal(all(root, 'SegmentTemplate')[0]!.attributes['availabilityTimeOffset'], undefined);
  });

  it('low latency: availabilityTimeOffset, availabilityTimeComplete, ServiceDescription instead of suggestedPresentationDelay', () => {
    const v = rendition({ name: '720p', segments: run(3) });
    const text = mpd(snapshot({ video: [v] }), { ...OPTIONS, lowLatency: true });
    const root = parseXml(text);
    assert.equal(root.attributes['suggestedPresentationDelay'], undefined);
    assert.equal(root.attributes['minimumUpdatePeriod'], 'PT0.5S', 'a new segment is seen within a part');
    const template = all(root, 'SegmentTemplate')[0]!;
    assert.equal(template.attributes['availabilityTimeOffset'], '1.5');
    assert.equal(template.attributes['availabilityTimeComplete'], 'false');
    assert.match(text, /\n  <ServiceDescription id="0">\n    <Latency target="1500" min="500" max="3500" referenceId="0"\/>\n    <PlaybackRate min="0\.96" max="1\.04"\/>\n  <\/ServiceDescription>\n  <Period /);
    assert.doesNotMatch(text, /ProducerReferenceTime/);
    const custom = parseXml(mpd(snapshot({ video: [v] }), { ...OPTIONS, lowLatency: true, latency: { targetMs: 3000, minMs: 2000, maxMs: 6000 } }));
    assert.deepEqual(all(custom, 'Latency')[0]!.attributes, { target: '3000', min: '2000', max: '6000', referenceId: '0' });
  });

  it('low latency lists the open segment at its planned duration once it has a part (its chunks are sent as they come)', () => {
    const v = rendition({ name: '720p', segments: [...run(2), { parts: [0.5], complete: false }] });
    const planned = { ...v, segments: v.segments.map((s) => (s.complete ? s : { ...s, plannedDuration: 180_000 })) };
    const timelineOf = (text: string) => all(parseXml(text), 'S').map((x) => x.attributes);
    assert.deepEqual(timelineOf(mpd(snapshot({ video: [planned] }), { ...OPTIONS, lowLatency: true })), [{ t: '0', d: '180000', r: '2' }]);
    assert.deepEqual(timelineOf(mpd(snapshot({ video: [planned] }), OPTIONS)), [{ t: '0', d: '180000', r: '1' }], 'not without low latency');
    const noPart = rendition({ name: '720p', segments: [...run(2), { parts: [], complete: false }] });
    assert.deepEqual(timelineOf(mpd(snapshot({ video: [noPart] }), { ...OPTIONS, lowLatency: true })), [{ t: '0', d: '180000', r: '1' }], 'nor before its first part');
  });

  it('UTCTiming always; everything from outside XML-escaped; $ doubled in templates', () => {
    const v = rendition({ name: '720p', segments: run(1) });
    const text = mpd(snapshot({ key: `<cam&"1'>\u0001`, video: [v] }), { timeUrl: '/time?a=1&b="2"', query: 'exp=1&sig=<$>' });
    const root = parseXml(text);
    assert.equal(all(root, 'Title')[0]!.text, `<cam&"1'>\ufffd`);
    assert.deepEqual(all(root, 'UTCTiming')[0]!.attributes, { schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: '/time?a=1&b="2"' });
    const template = all(root, 'SegmentTemplate')[0]!;
    assert.equal(template.attributes['media'], 'i0/720p/$Number$.m4s?exp=1&sig=%3C$$%3E');
    assert.equal(template.attributes['initialization'], 'i0/720p/init.mp4?exp=1&sig=%3C$$%3E');
  });

  it('an MPD before any complete segment still has a Period', () => {
    const v = rendition({ name: '720p', segments: [{ parts: [0.5], complete: false, discontinuity: 4 }] });
    const root = parseXml(mpd(snapshot({ video: [v] }), OPTIONS));
    assert.deepEqual(all(root, 'Period').map((p) => [p.attributes['id'], p.children.length]), [['4', 0]]);
  });
});

describe('mediaTemplate (ISO/IEC 23009-1 5.3.9.4.4)', () => {
  const segs = (uris: string[], first = 9) => rendition({ name: 'v', firstMsn: first, segments: run(uris.length) }).segments.map((s, i) => ({ ...s, uri: uris[i]! }));

  it('replaces the msn, whichever digits come before it', () => {
    assert.equal(mediaTemplate(segs(['a9/v9/9.m4s', 'a9/v9/10.m4s'])), 'a9/v9/$Number$.m4s');
    assert.equal(mediaTemplate(segs(['x/seg-9-a$.mp4', 'x/seg-10-a$.mp4'])), 'x/seg-$Number$-a$$.mp4');
    assert.equal(mediaTemplate(segs(['i1/720p/4.m4s'], 4)), 'i1/720p/$Number$.m4s');
    assert.equal(mediaTemplate(segs(['i1/4/4.m4s', 'i1/4/5.m4s'], 4)), 'i1/4/$Number$.m4s');
    assert.equal(mediaTemplate(segs(['i1/4/4.m4s', 'i1/5/4.m4s'], 4)), 'i1/$Number$/4.m4s');
  });

  it('refuses URIs that do not fit, or a gap in msns', () => {
    assert.throws(() => mediaTemplate(segs(['x/0009.m4s'])), /does not carry its msn/);
    assert.throws(() => mediaTemplate(segs(['x/9.m4s', 'y/10.m4s'])), /does not fit/);
    const gap = segs(['x/9.m4s', 'x/10.m4s']);
    assert.throws(() => mediaTemplate([gap[0]!, { ...gap[1]!, msn: 11, uri: 'x/11.m4s' }]), /follows/);
  });
});

describe('frameRate (ISO/IEC 23009-1 5.3.12.2)', () => {
  it('integers, NTSC fractions, other fractions', () => {
    assert.deepEqual([30, 30000 / 1001, 60000 / 1001, 24000 / 1001, 12.5, 25].map(frameRate), ['30', '30000/1001', '60000/1001', '24000/1001', '25/2', '25']);
  });
});

describe('mpd on random windows (fast-check)', () => {
  it('is well-formed, and each SegmentTimeline reproduces the complete segments of its period exactly (and the open one with low latency)', () => {
    fc.assert(fc.property(windowArbitrary, fc.boolean(), (w, lowLatency) => {
      const { r, s } = windowOf(w);
      // The same window as audio at 48 kHz (segment starts and durations rescaled), so periods hold two adaptation sets.
      const audio: Rendition = {
        ...r, name: 'audio', kind: 'audio', codecs: 'mp4a.40.2', timescale: 48_000,
        segments: r.segments.map((x) => ({ ...x, uri: x.uri.replace('720p', 'audio'), initUri: `i${x.discontinuity}/audio/init.mp4`, start: (x.start * 8) / 15, duration: (x.duration * 8) / 15 })),
      };
      const video = { ...r, segments: r.segments.map((x) => ({ ...x, initUri: `i${x.discontinuity}/720p/init.mp4` })) };
      const root = parseXml(mpd({ ...s, video: [video], audio }, { ...OPTIONS, lowLatency }));
      assert.equal(root.attributes['type'], w.ended ? 'static' : 'dynamic');
      assert.equal(all(root, 'UTCTiming').length, 1);
      for (const rend of [video, audio]) {
        const complete = rend.segments.filter((x) => x.complete || (lowLatency && !w.ended && x.parts.length > 0));
        const periods = [...new Set(complete.map((x) => x.discontinuity))];
        const listed = all(root, 'Period').map((p) => ({ id: Number(p.attributes['id']), rep: all(p, 'Representation').find((x) => x.attributes['id'] === rend.name) }));
        assert.deepEqual(listed.filter((p) => p.rep !== undefined).map((p) => p.id), periods);
        for (const p of listed) {
          if (p.rep === undefined) continue;
          const expected = complete.filter((x) => x.discontinuity === p.id).map((x) => ({ msn: x.msn, uri: x.uri, start: x.start, duration: x.duration }));
          assert.deepEqual(expand(p.rep), expected);
        }
      }
    }));
  });
});
