#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pkg from '../package.json' with { type: 'json' };
import { startApp } from './app.ts';
import { formatConfigYaml, loadConfig, type Config } from './config/index.ts';
import { ProxyRtmpError } from './errors.ts';
import { createLogger } from './log.ts';

const HELP = `proxy-rtmp ${pkg.version}: RTMP ingest → adaptive HLS/DASH, with a gRPC ModuleService

Usage: proxy-rtmp [options]

Options:
  -c, --config PATH   YAML configuration file (default: none, the built-in defaults;
                      also settable with RTMP_CONFIG). RTMP_* variables override it.
      --check-config  load and validate the configuration, then exit (0 when valid)
      --print-config  print the effective configuration as YAML, then exit
  -v, --version       print the version
  -h, --help          print this help

Publish to rtmp://<host>:1935/live/<stream_key>.`;

/** CLI entry: arguments → config → app.start(); SIGTERM/SIGINT → app.close() → exit 0. */
async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'print-config': { type: 'boolean' },
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
    process.stdout.write(formatConfigYaml(config));
    return 0;
  }

  const log = createLogger(config.log);
  log.info({ version: pkg.version, config: path ?? 'built-in defaults', node: process.version }, 'starting proxy-rtmp');
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    return 1;
  }
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
      app.close().then(() => resolve(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`proxy-rtmp: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
