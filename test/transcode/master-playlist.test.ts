import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LADDER } from '../../src/transcode/ladder.ts';
import { augmentMasterPlaylist } from '../../src/transcode/master-playlist.ts';

// What ffmpeg 5.1's dash muxer writes with -hls_playlist 1 for two rungs.
const FFMPEG_MASTER = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=3339000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1"
media_0.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1733000,RESOLUTION=854x480,CODECS="avc1.64001e,mp4a.40.2",AUDIO="group_A1"
media_1.m3u8
`;

test('AVERAGE-BANDWIDTH and FRAME-RATE are added per rung, in order; the rest is untouched', () => {
  const rungs = [DEFAULT_LADDER[1]!, { ...DEFAULT_LADDER[2]!, fps: 29.97 }];
  const out = augmentMasterPlaylist(FFMPEG_MASTER, rungs, 128);
  const inf = out.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
  assert.equal(
    inf[0],
    '#EXT-X-STREAM-INF:BANDWIDTH=3339000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="group_A1",AVERAGE-BANDWIDTH=3128000,FRAME-RATE=30.000',
  );
  assert.match(inf[1]!, /,AVERAGE-BANDWIDTH=1628000,FRAME-RATE=29\.970$/);
  assert.equal(out.replace(/,AVERAGE-BANDWIDTH=\d+,FRAME-RATE=[\d.]+/g, ''), FFMPEG_MASTER);
});

test('attributes ffmpeg already wrote are kept, and extra variants pass through', () => {
  const text = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,FRAME-RATE=25.000\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n';
  const out = augmentMasterPlaylist(text, [DEFAULT_LADDER[0]!], 64);
  assert.match(out, /BANDWIDTH=1,FRAME-RATE=25\.000,AVERAGE-BANDWIDTH=5064000\n/);
  assert.match(out, /BANDWIDTH=2\nb\.m3u8/);
});
