import { startApp, type RunningApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';

/** Starts the whole app on ephemeral ports with `env` overriding the defaults. */
export async function startTestServer(env: Record<string, string> = {}): Promise<RunningApp & { port: number }> {
  const config = loadConfig({
    env: { RTMP_HOST: '127.0.0.1', RTMP_PORT: '0', RTMP_LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent', RTMP_LOG_FORMAT: 'json', ...env },
  });
  const app = await startApp(config, createLogger(config.log, process.stderr));
  return Object.assign(app, { port: app.rtmpAddress.port });
}
