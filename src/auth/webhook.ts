import { createHmac } from 'node:crypto';
import type { Agent } from 'undici';

/** What the webhook is told about one publish (the JSON body of its POST). */
export interface WebhookRequest {
  action: 'publish';
  app: string;
  key: string;
  /** The publisher's IP address. */
  clientAddress: string;
  /** Query parameters of the publish name and of connect's app/tcUrl (the publish name wins). */
  query: Readonly<Record<string, string>>;
  /** Unix seconds when the request was made; equal to the X-Proxy-Rtmp-Timestamp header. */
  time: number;
}

/** The webhook's verdict. `status` is the HTTP status when there was one. */
export type WebhookVerdict =
  | { outcome: 'allow'; status: number }
  | { outcome: 'deny'; status: number }
  | { outcome: 'unavailable'; why: 'timeout' | 'unreachable' };

/** Webhook settings (from the auth config section). */
export interface WebhookOptions {
  url: string;
  /** HMAC key of X-Proxy-Rtmp-Signature; '' sends requests unsigned. */
  secret: string;
  timeoutMs: number;
  /** Sent as User-Agent. */
  userAgent?: string;
}

/** Header carrying `sha256=<hex HMAC-SHA256(secret, raw body)>`. */
export const SIGNATURE_HEADER = 'x-proxy-rtmp-signature';
/** Header carrying the request time in unix seconds (also `time` in the body). */
export const TIMESTAMP_HEADER = 'x-proxy-rtmp-timestamp';

/** `sha256=<hex>` over the exact bytes of `body`: what the receiver recomputes and compares. */
export function webhookSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * The publish webhook: one POST per publish with a JSON body and an HMAC
 * signature of that body, sent with undici on its own connection pool. A 2xx
 * answer allows, any other status denies (redirects are not followed), and a
 * timeout or a network error is `unavailable` (the caller applies
 * auth.webhookFailOpen). The whole exchange, body included, is bounded by
 * `timeoutMs`; the answer's body is read and discarded (at most 64 KiB).
 */
export class WebhookClient {
  readonly #options: WebhookOptions;
  /** undici and the pool, loaded on the first publish: undici's evaluation would otherwise delay start-up (issue 16). */
  #client: Promise<{ agent: Agent; request: typeof import('undici').request }> | undefined;

  constructor(options: WebhookOptions) {
    this.#options = options;
  }

  #undici(): Promise<{ agent: Agent; request: typeof import('undici').request }> {
    this.#client ??= import('undici').then(({ Agent, request }) => ({
      agent: new Agent({
        connections: 32,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
        connectTimeout: this.#options.timeoutMs,
      }),
      request,
    }));
    return this.#client;
  }

  /** POSTs `body` and returns the verdict; never throws. */
  async check(body: WebhookRequest): Promise<WebhookVerdict> {
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: String(body.time),
    };
    if (this.#options.secret !== '') headers[SIGNATURE_HEADER] = webhookSignature(this.#options.secret, raw);
    if (this.#options.userAgent !== undefined) headers['user-agent'] = this.#options.userAgent;
    // undici's first load is this process's start-up cost, not the webhook's: the timeout starts after it.
    const { agent, request } = await this.#undici();
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    try {
      const res = await request(this.#options.url, {
        dispatcher: agent,
        method: 'POST',
        headers,
        body: raw,
        signal,
      });
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      const status = res.statusCode;
      return status >= 200 && status < 300 ? { outcome: 'allow', status } : { outcome: 'deny', status };
    } catch (err) {
      const timedOut = signal.aborted || isTimeout(err);
      return { outcome: 'unavailable', why: timedOut ? 'timeout' : 'unreachable' };
    }
  }

  /** Closes the pool's connections. */
  async close(): Promise<void> {
    if (this.#client !== undefined) await (await this.#client).agent.close();
  }
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}
