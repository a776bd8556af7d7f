import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { startApp, type RunningApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';

/** A fresh, empty output directory for one test server. */
export function tempOutputDir(): string {
  return mkdtempSync(join(tmpdir(), 'proxy-rtmp-out-'));
}

/**
 * Starts the whole app on ephemeral ports with `env` overriding the defaults.
 * Transcoding is off unless the test turns it on (RTMP_TRANSCODE=true): most
 * ingest tests need no ffmpeg per stream. Resolves once the encoder probe has
 * ended too, unless `waitForProbe` is false (the listeners are up then, the probe may still run).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { logTo?: NodeJS.WritableStream; waitForProbe?: boolean } = {},
): Promise<RunningApp & { port: number; httpPort: number }> {
  const config = loadConfig({
    env: {
      RTMP_HOST: '127.0.0.1',
      RTMP_PORT: '0',
      RTMP_HTTP_HOST: '127.0.0.1',
      RTMP_HTTP_PORT: '0',
      RTMP_GRPC_HOST: '127.0.0.1',
      RTMP_GRPC_PORT: '0',
      RTMP_DRAIN_GRACE_MS: '0',
      RTMP_TRANSCODE: 'false',
      RTMP_OUTPUT_DIR: tempOutputDir(),
      RTMP_LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
      RTMP_LOG_FORMAT: 'json',
      ...env,
    },
  });
  const app = await startApp(config, createLogger(config.log, options.logTo ?? process.stderr));
  if (options.waitForProbe !== false) {
    try {
      await app.probed;
    } catch (err) {
      await app.close();
      throw err;
    }
  }
  return Object.assign(app, { port: app.rtmpAddress.port, httpPort: app.httpAddress.port });
}

/** A test server as startTestServer returns it. */
export type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/**
 * For a describe block: a function that starts test servers (`defaults`, then
 * its own `env`, over startTestServer's), every one of them closed after the block.
 */
export function serverPool(defaults: Record<string, string> = {}): (env?: Record<string, string>) => Promise<TestServer> {
  const servers: TestServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  return async (env = {}) => {
    const s = await startTestServer({ ...defaults, ...env });
    servers.push(s);
    return s;
  };
}
