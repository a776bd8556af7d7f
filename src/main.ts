#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pkg from '../package.json' with { type: 'json' };
import { startApp } from './app.ts';
import { runSignCommand, SIGN_USAGE } from './auth/sign-command.ts';
import { formatConfigYaml, loadConfig, type Config } from './config/index.ts';
import { hasCode, ProxyRtmpError } from './errors.ts';
import { createLogger } from './log.ts';
import { SdNotifier } from './util/sd-notify.ts';

const HELP = `proxy-rtmp ${pkg.version}: RTMP ingest → adaptive HLS/DASH, with a gRPC ModuleService

Usage: proxy-rtmp [options]
       ${SIGN_USAGE.split('\n').join('\n       ')}

Options:
  -c, --config PATH   YAML configuration file (default: none, the built-in defaults;
                      also settable with RTMP_CONFIG). RTMP_* variables override it.
      --check-config  load and validate the configuration, then exit (0 when valid)
      --print-config  print the effective configuration as YAML, then exit (stream keys
                      as their sha256: form, secrets as (hidden))
      --show-secrets  with --print-config: print keys and secrets as they are
  -v, --version       print the version
  -h, --help          print this help

Publish to rtmp://<host>:1935/live/<stream_key>.`;

/** CLI entry: arguments → config → app.start(); SIGTERM/SIGINT → app.close() → exit 0. */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'sign') {
    const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
    return runSignCommand(argv.slice(1), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env });
  }
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'print-config': { type: 'boolean' },
        'show-secrets': { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`proxy-rtmp: ${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const path = args.config ?? (process.env['RTMP_CONFIG'] || undefined);
  let config: Config;
  try {
    config = loadConfig(path === undefined ? {} : { path });
  } catch (err) {
    if (err instanceof ProxyRtmpError) {
      process.stderr.write(`proxy-rtmp: configuration error: ${err.message}\n`);
      return 78; // EX_CONFIG: systemd will not restart-loop on it (RestartPreventExitStatus)
    }
    throw err;
  }
  if (args['check-config']) {
    process.stdout.write(`configuration OK${path === undefined ? ' (built-in defaults)' : `: ${path}`}\n`);
    return 0;
  }
  if (args['print-config']) {
    process.stdout.write(formatConfigYaml(config, { redactSecrets: args['show-secrets'] !== true }));
    return 0;
  }

  const log = createLogger(config.log);
  // Under a Type=notify unit (NOTIFY_SOCKET set): READY=1 once every listener is up, STOPPING=1 when the drain begins.
  const notifier = SdNotifier.fromEnv(process.env, { onError: (err) => log.warn({ err }, 'sd_notify failed') });
  log.info({ version: pkg.version, config: path ?? 'built-in defaults', node: process.version }, 'starting proxy-rtmp');
  // Signals are taken from here on: one that comes while the listeners open is kept and acted on
  // once they are up (a stop during the encoder probe after that stops the probe too), not a kill by default action.
  let early: NodeJS.Signals | undefined;
  let onSignal = (signal: NodeJS.Signals): void => {
    early ??= signal;
  };
  process.on('SIGTERM', (s) => onSignal(s));
  process.on('SIGINT', (s) => onSignal(s));
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    await notifier?.notify({ status: `start-up failed: ${err instanceof Error ? err.message : String(err)}` });
    return 1;
  }
  const running = app;
  const serving = () => `serving ${running.registry.size} streams; RTMP :${running.rtmpAddress.port}, HTTP :${running.httpAddress.port}, gRPC :${running.grpcPort}`;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      Promise.all([app.close(), notifier?.notify({ stopping: true, status: `stopping (${signal})` })]).then(() => resolve(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    onSignal = stop;
    if (early !== undefined) stop(early);
    // The listeners are up; the encoder probe runs in the background. READY=1 once it has proven the encoder,
    // so `systemctl start` still fails on a configured ffmpeg or a forced encoder that does not work.
    app.probed.then(
      () => {
        if (stopping) return;
        void notifier?.notify({ ready: true, status: serving() });
        notifier?.startWatchdog(serving);
      },
      (err: unknown) => {
        if (stopping) return;
        stopping = true;
        log.fatal({ err }, 'start-up failed');
        const code = hasCode(err, 'ERR_FFMPEG_UNUSABLE') ? 78 : 1;
        void Promise.all([app.close(), notifier?.notify({ status: `start-up failed: ${err instanceof Error ? err.message : String(err)}` })]).then(
          () => resolve(code),
          () => resolve(code),
        );
      },
    );
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`proxy-rtmp: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
