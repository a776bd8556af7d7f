import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { ModuleService, type HealthCheckResponse } from '../../src/gen/marchproxy/module/v1/module_pb.ts';
import { grpcDefinition } from '../../src/grpc/adapter.ts';
import { ffmpegPublish } from '../support/ffmpeg.ts';
import { serverPool, type TestServer as Server } from '../support/server.ts';
import { waitUntil } from '../support/wait.ts';

/** An executable 'ffmpeg' that answers `-version` (so start-up accepts it), then prints `message` on stderr and exits 1 when asked to transcode. */
function fakeFfmpeg(message: string): string {
  const fake = join(mkdtempSync(join(tmpdir(), 'fake-ffmpeg-')), 'ffmpeg');
  writeFileSync(fake, `#!/bin/sh\ncase "$*" in *-version*) echo "ffmpeg version fake"; exit 0;; *" -h "*) exit 0;; esac\necho "${message}" >&2\nexit 1\n`);
  chmodSync(fake, 0o755);
  return fake;
}

const ModuleClient = makeGenericClientConstructor(grpcDefinition(ModuleService), 'ModuleService');

/** HealthCheck over gRPC, as a load balancer asks it. */
function healthCheck(client: Client): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => {
    (client as unknown as { healthCheck: (...a: unknown[]) => void }).healthCheck({}, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: HealthCheckResponse) =>
      (err ? reject(err) : resolve(res)));
  });
}

describe('transcoding faults never disturb ingest', () => {
  const server = serverPool({ RTMP_TRANSCODE: 'true', RTMP_TRANSCODE_PRESET: 'ultrafast' });

  test('an ffmpeg that keeps dying: restarts with backoff, then the stream is marked error; ingest goes on', async () => {
    const fake = fakeFfmpeg('fake ffmpeg: Conversion failed!');
    const s = await server({ RTMP_FFMPEG_PATH: fake });
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/doomed`, { seconds: 20 });
    await waitUntil(() => s.registry.get('doomed')?.transcode?.status === 'error', 'the stream to be marked error', 20_000);
    const entry = s.registry.get('doomed')!;
    assert.equal(entry.transcode?.restarts, 4, 'five runs: the first and four restarts');
    assert.match(entry.error ?? '', /failed 5 times.*Conversion failed!/);
    assert.equal(entry.status(Date.now()), 'error');
    const bytes = entry.bytesIn;
    await sleep(1000);
    assert.ok(entry.bytesIn > bytes, 'the publisher is still connected and sending');
    pub.kill('SIGINT');
    await pub.exited;
  });

  test('a stalled ffmpeg (SIGSTOP): whole GOPs are dropped, ingest never blocks, encoding resumes after SIGCONT; health tells of the drops, then that they were', async () => {
    const s = await server({ RTMP_MAX_BACKLOG_BYTES: '65536' });
    const client = new ModuleClient(`127.0.0.1:${s.grpcPort}`, credentials.createInsecure());
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/stalled`, { seconds: 40, videoKbps: 800 });
    try {
      await waitUntil(() => s.transcoder?.get('stalled')?.state.status === 'encoding', 'encoding', 20_000);
      const t = s.transcoder!.get('stalled')!;
      const pid = t.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        const bytes = s.registry.get('stalled')!.bytesIn;
        await waitUntil(() => t.state.droppedGops >= 2, 'GOPs dropped while ffmpeg is stopped', 15_000);
        assert.ok(s.registry.get('stalled')!.bytesIn > bytes + 100_000, 'ingest kept reading');
        const dropping = await healthCheck(client);
        assert.equal(dropping.status, 'degraded');
        assert.ok(dropping.errors.some((e) => /^stream stalled: ffmpeg fell behind, \d+ GOPs \(\d+ video frames\) dropped since \d{4}-[\d-]+T[\d:]+Z$/.test(e)), dropping.errors.join('; '));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const frames = t.state.progress?.frame ?? 0;
      await waitUntil(() => (t.state.progress?.frame ?? 0) > frames + 30, 'encoding resumed', 15_000);
      assert.equal(t.pid, pid, 'the same ffmpeg carried on; nothing restarted');
      // Once no GOP has been dropped for 10 s, the error goes (after the hysteresis) and the message keeps what happened.
      let health = await healthCheck(client);
      const deadline = Date.now() + 25_000;
      while (!health.message.includes('recovered: ') && Date.now() < deadline) {
        await sleep(500);
        health = await healthCheck(client);
      }
      const { droppedGops, droppedFrames } = t.state;
      const when = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`;
      assert.match(health.message, new RegExp(`recovered: stream stalled dropped ${droppedGops} GOPs \\(${droppedFrames} video frames\\) between ${when} and ${when}`));
      assert.ok(!health.errors.some((e) => /fell behind/.test(e)), health.errors.join('; '));
    } finally {
      client.close();
      pub.kill('SIGINT');
      await pub.exited;
    }
  });

  test('an ffmpeg whose output cannot be packaged: each run is killed and restarted, then the stream is marked error; ingest goes on', async () => {
    // Passes the start-up probes, then writes garbage where the CMAF pipe of the first rung is.
    const fake = join(mkdtempSync(join(tmpdir(), 'garbage-ffmpeg-')), 'ffmpeg');
    writeFileSync(fake, '#!/bin/sh\ncase "$*" in *-version*) echo "ffmpeg version fake"; exit 0;; *" -h "*) exit 0;; esac\nprintf "\\000\\000\\000\\010moofJUNKJUNKJUNK" >&4\nexec cat >/dev/null\n');
    chmodSync(fake, 0o755);
    const s = await server({ RTMP_FFMPEG_PATH: fake, RTMP_ENCODER: 'x264' });
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/garbage`, { seconds: 30 });
    await waitUntil(() => s.registry.get('garbage')?.transcode?.status === 'error', 'error status after repeated malformed output', 25_000);
    const entry = s.registry.get('garbage')!;
    assert.ok(entry.transcode!.restarts >= 4, `restarts ${entry.transcode!.restarts}`);
    const bytes = entry.bytesIn;
    await sleep(1000);
    assert.ok(s.registry.get('garbage')!.bytesIn > bytes, 'ingest goes on');
    assert.equal(s.rtmp.listening, true);
    pub.kill('SIGINT');
    await pub.exited;
  });

  test('a full disk (ENOSPC from ffmpeg) stops that stream at once, with no restart loop', async () => {
    const fake = fakeFfmpeg('[dash @ 0x1] failed to open chunk-0-00003.m4s: No space left on device');
    const s = await server({ RTMP_FFMPEG_PATH: fake });
    const pub = ffmpegPublish(`rtmp://127.0.0.1:${s.port}/live/full`, { seconds: 10 });
    await waitUntil(() => s.registry.get('full')?.transcode?.status === 'error', 'error status');
    const entry = s.registry.get('full')!;
    assert.equal(entry.transcode?.restarts, 0);
    assert.match(entry.error ?? '', /No space left on device/);
    pub.kill('SIGINT');
    await pub.exited;
  });
});
