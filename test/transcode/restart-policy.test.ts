import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EncoderKind } from '../../src/transcode/ffmpeg-args.ts';
import { RestartPolicy, type FfmpegDeath, type RestartDecision } from '../../src/transcode/restart-policy.ts';

/** One death fed to the policy: when (ms on the fake clock), on which encoder, what ffmpeg said, and the expected answer. */
interface Step {
  at: number;
  encoder: EncoderKind;
  message: string;
  kind?: FfmpegDeath['kind'];
  expect: RestartDecision;
}

const odd = 'pipe:0: something odd happened';
const nvencLimit = '[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10): (no details) | Conversion failed!';
const restart = (delayMs: number): RestartDecision => ({ action: 'restart', delayMs });
const giveUp = (reason: string): RestartDecision => ({ action: 'give-up', reason });
const fallback = (reason: string): RestartDecision => ({ action: 'fallback', encoder: 'x264', reason });
const x264 = (at: number, expect: RestartDecision, message = odd): Step => ({ at, encoder: 'x264', message, expect });
const nvenc = (at: number, expect: RestartDecision, message = odd): Step => ({ at, encoder: 'nvenc', message, expect });

const cases: [string, Step[]][] = [
  [
    'backoff 0.5, 1, 2, 4 s, then the fifth death within a minute gives up',
    [
      x264(0, restart(500)),
      x264(1_000, restart(1000)),
      x264(3_000, restart(2000)),
      x264(6_000, restart(4000)),
      x264(59_999, giveUp(`ffmpeg failed 5 times within 60 s; last: ${odd}`)),
    ],
  ],
  [
    'a death a minute old is forgotten: the window slides',
    [
      x264(0, restart(500)),
      x264(1_000, restart(1000)),
      x264(2_000, restart(2000)),
      x264(3_000, restart(4000)),
      // The death at 0 is exactly FAILURE_WINDOW_MS old: four remain, so no give-up.
      x264(60_000, restart(4000)),
      // Those at 1 and 2 s drop out too: three remain.
      x264(62_500, restart(2000)),
      x264(62_600, restart(4000)),
      x264(62_700, giveUp(`ffmpeg failed 5 times within 60 s; last: ${odd}`)),
    ],
  ],
  [
    'after a quiet spell the backoff starts again at 0.5 s',
    [x264(0, restart(500)), x264(10_000, restart(1000)), x264(200_000, restart(500))],
  ],
  [
    'a hardware message on a hardware encoder falls back at once',
    [nvenc(0, fallback('OpenEncodeSessionEx failed: out of memory (10): (no details)'), nvencLimit)],
  ],
  [
    'a VAAPI message on vaapi falls back at once, even after other deaths',
    [
      { at: 0, encoder: 'vaapi', message: odd, expect: restart(500) },
      {
        at: 500,
        encoder: 'vaapi',
        message: '[h264_vaapi @ 0x1] Failed to end picture encode issue: 23 (internal encoding error).',
        expect: fallback('Failed to end picture encode issue: 23 (internal encoding error)'),
      },
    ],
  ],
  [
    'three deaths within a minute on a hardware encoder fall back, whatever ffmpeg said',
    [nvenc(0, restart(500)), nvenc(1_000, restart(1000)), nvenc(3_000, fallback(`ffmpeg died 3 times within 60 s; last: ${odd}`))],
  ],
  [
    'three hardware-encoder deaths spread over more than a minute do not fall back',
    [nvenc(0, restart(500)), nvenc(30_000, restart(1000)), nvenc(60_001, restart(1000))],
  ],
  [
    'a stream falls back once only; on x264 the window starts afresh',
    [
      nvenc(0, fallback('OpenEncodeSessionEx failed: out of memory (10): (no details)'), nvencLimit),
      x264(100, restart(500)),
      x264(200, restart(1000)),
      x264(300, restart(2000)),
      x264(400, restart(4000)),
      x264(500, giveUp(`ffmpeg failed 5 times within 60 s; last: ${odd}`)),
    ],
  ],
  [
    'a second hardware failure after the fallback restarts instead, even if the caller still says nvenc',
    [
      nvenc(0, fallback('OpenEncodeSessionEx failed: out of memory (10): (no details)'), nvencLimit),
      nvenc(100, restart(500), nvencLimit),
      nvenc(200, restart(1000)),
      nvenc(300, restart(2000)),
    ],
  ],
  [
    'x264 never falls back, even on a hardware-looking message',
    [
      x264(0, restart(500), nvencLimit),
      x264(1, restart(1000), nvencLimit),
      x264(2, restart(2000), nvencLimit),
      x264(3, restart(4000), nvencLimit),
      x264(4, giveUp(`ffmpeg failed 5 times within 60 s; last: ${nvencLimit}`), nvencLimit),
    ],
  ],
  ...(
    [
      ['ENOSPC', '[hls @ 0x1] failed to open segment 720p/seg-00003.m4s: No space left on device'],
      ['EACCES', '[dash @ 0x1] failed to open /out/cam/manifest.mpd: Permission denied'],
      ['EROFS', '[hls @ 0x1] failed to rename file: Read-only file system'],
    ] as const
  ).flatMap(([errno, message]): [string, Step[]][] => [
    [`${errno} gives up on the first death, with ffmpeg's message`, [x264(0, giveUp(message), message)]],
    [`${errno} gives up on a hardware encoder too, rather than falling back`, [nvenc(0, giveUp(`${nvencLimit} | ${message}`), `${nvencLimit} | ${message}`)]],
    [`${errno} gives up after earlier restarts`, [x264(0, restart(500)), x264(1_000, giveUp(message), message)]],
  ]),
  [
    'a spawn failure gives up at once',
    [{ at: 0, encoder: 'x264', kind: 'spawn-failed', message: 'cannot start /nope/ffmpeg: spawn /nope/ffmpeg ENOENT', expect: giveUp('cannot start /nope/ffmpeg: spawn /nope/ffmpeg ENOENT') }],
  ],
];

describe('RestartPolicy: what to do when a stream\'s ffmpeg dies', () => {
  for (const [name, steps] of cases) {
    test(name, () => {
      const policy = new RestartPolicy();
      steps.forEach((step, i) => {
        const decision = policy.onDeath({ kind: step.kind ?? 'died', message: step.message }, step.encoder, step.at);
        assert.deepEqual(decision, step.expect, `death ${i + 1} at ${step.at} ms on ${step.encoder}`);
      });
    });
  }

  test('permanent failures are not counted as deaths in the window', () => {
    const policy = new RestartPolicy();
    policy.onDeath({ kind: 'died', message: odd }, 'x264', 0);
    policy.onDeath({ kind: 'died', message: 'No space left on device' }, 'x264', 1);
    policy.onDeath({ kind: 'spawn-failed', message: 'cannot start ffmpeg' }, 'x264', 2);
    assert.equal(policy.recentDeaths, 1);
  });

  test('each stream has its own policy: deaths of one do not count against another', () => {
    const a = new RestartPolicy();
    const b = new RestartPolicy();
    for (let t = 0; t < 4; t++) a.onDeath({ kind: 'died', message: odd }, 'x264', t);
    assert.deepEqual(b.onDeath({ kind: 'died', message: odd }, 'x264', 4), restart(500));
    assert.deepEqual(a.onDeath({ kind: 'died', message: odd }, 'x264', 5), giveUp(`ffmpeg failed 5 times within 60 s; last: ${odd}`));
  });
});
