import { AuthError } from './auth-error.js';

/** Default bound on a token's length in characters, checked before any parsing. */
export const defaultMaxTokenLength = 8192;

// RFC 6750 §2.1 b64token.
const b64token = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Extracts the token from a raw `Authorization` header value: `Bearer <token>`, the scheme
 * case-insensitive (RFC 6750 / RFC 9110), one or more spaces after it.
 *
 * @throws {AuthError} `missing` (no header, or no token), `too_long` (checked on the raw length
 * before anything else), `scheme` (not Bearer) or `malformed` (not a b64token).
 */
export function parseBearerToken(
  header: string | undefined,
  maxTokenLength: number = defaultMaxTokenLength,
): string {
  if (header === undefined) throw new AuthError('missing');
  // "Bearer" + spaces: a generous bound so no regex ever runs on a huge value.
  if (header.length > maxTokenLength + 64) throw new AuthError('too_long');
  const value = header.trim();
  if (value === '') throw new AuthError('missing');
  const space = value.indexOf(' ');
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw new AuthError('scheme');
  const token = space === -1 ? '' : value.slice(space + 1).replace(/^ +/, '');
  if (token === '') throw new AuthError('missing');
  if (token.length > maxTokenLength) throw new AuthError('too_long');
  if (!b64token.test(token)) throw new AuthError('malformed');
  return token;
}
