import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { PublishAuthorizer } from './authorizer.ts';
import { AuthFailures } from './failures.ts';
import { KeyList } from './keys.ts';
import { keyRedactingLogger } from './log-redaction.ts';
import { PlaybackGuard } from './playback.ts';
import { ConnectionLimiter } from './rate-limit.ts';
import { WebhookClient } from './webhook.ts';

/** The authentication and abuse-limit parts the app wires in. */
export interface AuthParts {
  /** Publish authentication; undefined when auth.enabled is false. */
  readonly authorizer: PublishAuthorizer | undefined;
  /** Signed playback URLs; undefined when auth.playback is false. */
  readonly playback: PlaybackGuard | undefined;
  /** Per-address connection limits (a no-op when both are 0). */
  readonly limiter: ConnectionLimiter;
  /** Failed authentications, for the metrics. */
  readonly failures: AuthFailures;
  /** The logger for stream components: stream keys shown as key ids when auth.enabled. */
  readonly log: Logger;
  /** Closes the webhook's connections. */
  close(): Promise<void>;
}

/**
 * Builds the auth parts from the config: `auth.enabled` turns on publish
 * authentication (and key ids in logs), `auth.playback` signed playback URLs;
 * the per-address limits apply whatever the auth settings.
 */
export function createAuth(config: Config, log: Logger, outputRoot: string, version: string): AuthParts {
  const { auth, limits } = config;
  const failures = new AuthFailures();
  const limiter = new ConnectionLimiter({
    maxPerAddress: limits.maxConnectionsPerAddress,
    perMinute: limits.connectionsPerMinutePerAddress,
  });
  let webhook: WebhookClient | undefined;
  let authorizer: PublishAuthorizer | undefined;
  if (auth.enabled) {
    if (auth.webhookUrl !== '') {
      const secret = auth.webhookSecret || auth.secrets[0] || '';
      if (secret === '') log.warn('auth.webhookUrl is set without a secret: webhook requests are not signed');
      webhook = new WebhookClient({ url: auth.webhookUrl, secret, timeoutMs: auth.webhookTimeoutMs, userAgent: `proxy-rtmp/${version}` });
    }
    authorizer = new PublishAuthorizer({
      keys: new KeyList(auth.keys),
      secrets: auth.secrets,
      maxTtlS: auth.signedUrlMaxTtlSeconds,
      ...(webhook === undefined ? {} : { webhook }),
      webhookFailOpen: auth.webhookFailOpen,
      failures,
      onFailOpen: (why) => log.warn({ why }, 'auth webhook unavailable: publish allowed (auth.webhookFailOpen)'),
    });
    log.info(
      { keys: auth.keys.length, secrets: auth.secrets.length, webhook: webhook !== undefined, failOpen: auth.webhookFailOpen },
      'publish authentication on',
    );
  }
  const playback = auth.playback
    ? new PlaybackGuard({ secrets: auth.secrets, maxTtlS: auth.signedUrlMaxTtlSeconds, failures })
    : undefined;
  return {
    authorizer,
    playback,
    limiter,
    failures,
    log: auth.enabled ? keyRedactingLogger(log, outputRoot) : log,
    close: async () => {
      await webhook?.close();
    },
  };
}
