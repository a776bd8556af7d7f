import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { featuresFromHelp, OLDEST_FFMPEG, parseHelpOptions, probeFeatures } from '../../src/ffmpeg/features.ts';
import { installedFfmpegStatic } from '../../src/ffmpeg/locate.ts';

/** Excerpts of `ffmpeg -h muxer=dash` as 4.2 and 5.1 print them. */
const DASH_42 = `Muxer dash [DASH Muxer]:
    Common extensions: mpd.
dash muxer AVOptions:
  -adaptation_sets   <string>     E.......... Adaptation sets. Syntax: id=0,streams=0,1,2 id=1,streams=3,4 and so on
  -hls_playlist      <boolean>    E.......... Generate HLS playlist files(master.m3u8, media_%d.m3u8) (default false)
  -streaming         <boolean>    E.......... Enable/Disable streaming mode of output. Each frame will be moof fragment (default false)
`;
const DASH_51 = `${DASH_42}  -hls_master_name   <string>     E.......... HLS master playlist name (default "master.m3u8")
  -ldash             <boolean>    E.......... Enable Low-latency dash. Constrains the value of a few elements (default false)
`;
const LONG_42 = `Advanced global options:
-progress url       write program-readable progress information
-stats              print progress report during encoding
`;
const LONG_51 = `${LONG_42}-stats_period time  set the period at which ffmpeg updates stats and -progress output
`;

describe('ffmpeg features', () => {
  test('parseHelpOptions: the option names of both help layouts, nothing from prose', () => {
    assert.deepEqual([...parseHelpOptions(DASH_51)].sort(), ['adaptation_sets', 'hls_master_name', 'hls_playlist', 'ldash', 'streaming']);
    assert.deepEqual([...parseHelpOptions(LONG_42)].sort(), ['progress', 'stats']);
    assert.deepEqual([...parseHelpOptions('no options -here\n')], []);
  });

  const table: Array<[string, string, string, { hlsMasterName: boolean; statsPeriod: boolean }]> = [
    ['4.2', DASH_42, LONG_42, { hlsMasterName: false, statsPeriod: false }],
    ['5.1', DASH_51, LONG_51, { hlsMasterName: true, statsPeriod: true }],
    ['4.3 (master name, no stats_period)', DASH_51, LONG_42, { hlsMasterName: true, statsPeriod: false }],
    ['empty help (a fake ffmpeg)', '', '', OLDEST_FFMPEG],
  ];
  for (const [name, dash, long, expected] of table) {
    test(`featuresFromHelp: ${name}`, () => assert.deepEqual(featuresFromHelp(dash, long), expected));
  }

  test('probed from the real binaries: Debian 5.1 has both, the static 4.2.1 neither', async () => {
    assert.deepEqual(await probeFeatures('ffmpeg'), { hlsMasterName: true, statsPeriod: true });
    assert.deepEqual(await probeFeatures(installedFfmpegStatic()!), { hlsMasterName: false, statsPeriod: false });
    await assert.rejects(probeFeatures('/nonexistent/ffmpeg'));
  });
});
