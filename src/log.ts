import { destination as pinoDestination, pino, stdTimeFunctions, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** The logger every component receives; child loggers carry `key` and `peer`. */
export type Logger = PinoLogger;

/** Log settings (the `log` config section). */
export interface LogOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
}

/**
 * One line per event: JSON when stdout is not a TTY (journald, log shippers),
 * human-readable on a terminal, or as configured. Writes are synchronous so a
 * crash never loses the line that explains it.
 */
export function createLogger(options: LogOptions, destination: NodeJS.WritableStream = process.stdout): Logger {
  const isTty = (destination as { isTTY?: boolean }).isTTY === true;
  const usePretty = options.format === 'pretty' || (options.format === 'auto' && isTty);
  const base = { level: options.level, base: { service: 'proxy-rtmp' } };
  if (usePretty) {
    return pino(base, pretty({ destination, sync: true, colorize: isTty, ignore: 'service,pid,hostname' }));
  }
  const out = destination === process.stdout ? pinoDestination({ dest: 1, sync: true }) : destination;
  return pino({ ...base, timestamp: stdTimeFunctions.isoTime }, out);
}
