import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring URLs: `?exp=<unix seconds>&sig=<hex HMAC-SHA256(secret, string)>`.
 *
 * - Publish: the string is `<app>/<key>:<exp>`, e.g. `live/cam1:1767225600`.
 * - Playback (HLS/DASH): the string is `play:<key>:<exp>`.
 *
 * A publish string always holds a `/` and a playback string never does
 * (neither app names nor keys may contain `/`, and app names no `:`), so a
 * playback token can never publish and a publish token can never play.
 */

/** Why a signature was refused; also the `reason` label of the failure counter. */
export type SignatureFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'expiry-too-far';

/** The outcome of checking `exp`/`sig`. */
export type SignatureCheck =
  | { ok: true; exp: number; sig: string; secretIndex: number }
  | { ok: false; reason: SignatureFailure };

/** Inputs of a signature check. */
export interface SignatureInput {
  /** The signed string without its `:<exp>` (see publishSubject, playbackSubject). */
  subject: string;
  /** The `exp` query parameter, as received. */
  exp: string | undefined;
  /** The `sig` query parameter, as received. */
  sig: string | undefined;
  /** The configured secrets, current first (at most 2, auth.secrets). */
  secrets: readonly string[];
  /** Now, in unix seconds. */
  nowS: number;
  /** Signatures expiring later than now + this are refused (auth.signedUrlMaxTtlSeconds). */
  maxTtlS: number;
}

const EXP_PATTERN = /^[0-9]{1,12}$/;
const SIG_PATTERN = /^[0-9a-fA-F]{64}$/;

/** The signed subject of a publish URL: `<app>/<key>`. */
export function publishSubject(app: string, key: string): string {
  return `${app}/${key}`;
}

/** The signed subject of a playback URL: `play:<key>`. */
export function playbackSubject(key: string): string {
  return `play:${key}`;
}

/** The exact string that is signed: `<subject>:<exp>`. */
export function signedString(subject: string, exp: number): string {
  return `${subject}:${exp}`;
}

/** HMAC-SHA256 of `<subject>:<exp>` under `secret`, lower-case hex. */
export function sign(secret: string, subject: string, exp: number): string {
  return createHmac('sha256', secret).update(signedString(subject, exp), 'utf8').digest('hex');
}

/** The query string `exp=<exp>&sig=<sig>` of a URL signed with `secret`. */
export function signedQuery(secret: string, subject: string, exp: number): string {
  return `exp=${exp}&sig=${sign(secret, subject, exp)}`;
}

/**
 * Checks `exp`/`sig` against every secret. Refused when either is missing or
 * malformed (exp: 1 to 12 digits; sig: 64 hex digits), when no secret produced
 * the signature, when exp is in the past, or when exp lies more than `maxTtlS`
 * ahead. The MAC is compared in constant time under each secret (both are
 * always computed), and before the expiry so a forged signature never learns
 * whether its exp was acceptable.
 */
export function checkSignature(input: SignatureInput): SignatureCheck {
  const { exp, sig } = input;
  if (exp === undefined && sig === undefined) return { ok: false, reason: 'missing' };
  if (exp === undefined || sig === undefined || !EXP_PATTERN.test(exp) || !SIG_PATTERN.test(sig)) {
    return { ok: false, reason: 'malformed' };
  }
  const expS = Number(exp);
  const given = Buffer.from(sig, 'hex');
  let secretIndex = -1;
  input.secrets.forEach((secret, i) => {
    const expected = createHmac('sha256', secret).update(signedString(input.subject, expS), 'utf8').digest();
    if (timingSafeEqual(expected, given) && secretIndex === -1) secretIndex = i;
  });
  if (secretIndex === -1) return { ok: false, reason: 'bad-signature' };
  if (expS < input.nowS) return { ok: false, reason: 'expired' };
  if (expS > input.nowS + input.maxTtlS) return { ok: false, reason: 'expiry-too-far' };
  return { ok: true, exp: expS, sig: sig.toLowerCase(), secretIndex };
}

/** Words for each failure, safe to send to a client (no key, no signature). */
export const SIGNATURE_FAILURE_TEXT: Readonly<Record<SignatureFailure, string>> = {
  missing: 'a signed URL (exp and sig) is required',
  malformed: 'the exp/sig parameters are malformed',
  'bad-signature': 'the URL signature is not valid',
  expired: 'the signed URL has expired',
  'expiry-too-far': 'the signed URL expires further ahead than allowed',
};
