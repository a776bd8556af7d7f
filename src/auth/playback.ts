import type { AuthFailures } from './failures.ts';
import { checkSignature, playbackSubject, type SignatureFailure } from './signed-url.ts';

/** The verdict on one playback request. */
export type PlaybackCheck =
  | {
      ok: true;
      /** `exp=<exp>&sig=<sig>`: carried into every URI of the playlists and manifest served with it. */
      token: string;
    }
  | { ok: false; reason: SignatureFailure };

/** Settings of the playback check. */
export interface PlaybackGuardOptions {
  /** auth.secrets, current first. */
  secrets: readonly string[];
  /** auth.signedUrlMaxTtlSeconds. */
  maxTtlS: number;
  failures: AuthFailures;
  /** Clock, ms (default Date.now). */
  now?: () => number;
}

/**
 * Signed playback URLs (auth.playback): every request under `/streams/<key>/`
 * carries `?exp=<unix seconds>&sig=<hex HMAC-SHA256(secret, "play:<key>:<exp>")>`
 * under one of auth.secrets. The token is per key and covers the master
 * playlist, the variant playlists, the DASH manifest and every segment.
 */
export class PlaybackGuard {
  readonly #o: PlaybackGuardOptions;
  readonly #now: () => number;

  constructor(options: PlaybackGuardOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Checks the `exp`/`sig` of a request for stream `key`; failures are counted. */
  check(key: string, search: URLSearchParams): PlaybackCheck {
    const result = checkSignature({
      subject: playbackSubject(key),
      exp: search.get('exp') ?? undefined,
      sig: search.get('sig') ?? undefined,
      secrets: this.#o.secrets,
      nowS: Math.floor(this.#now() / 1000),
      maxTtlS: this.#o.maxTtlS,
    });
    if (!result.ok) {
      this.#o.failures.count('play', result.reason);
      return result;
    }
    return { ok: true, token: `exp=${result.exp}&sig=${result.sig}` };
  }
}
