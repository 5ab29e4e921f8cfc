/**
 * How strong a shared secret is, estimated from its bytes alone. Used by `bastion doctor` and by
 * the production start-up checks for `auth.hsSecretFile`, `audit.hmacKeyFile` and the metrics
 * token.
 *
 * The rule: a secret must be at least {@link minSecretBytes} bytes long, and its estimated entropy
 * must reach {@link minSecretBits}. The estimate is the smallest of three views of the bytes, each
 * an upper bound that a particular pattern collapses:
 * 1. **symbols** — the Shannon entropy of the byte histogram times the length. Repeated bytes
 *    (`aaaa…`) or a small alphabet (`abab…`) score low.
 * 2. **steps** — the same for the differences between neighbouring bytes (mod 256), plus 8 bits
 *    for the first byte. A counter (`0123…`, `abcd…`) or any arithmetic progression scores low.
 * 3. **period** — when the secret repeats a shorter block (`s[i] = s[i + p]` throughout), only one
 *    block counts, measured by the first two views.
 * A random 32-byte secret scores about 150 bits; its hex (64 characters) about 250; 32 × `a`
 * scores 0, `abab…` 2, a counter 8; the hex of 16 random bytes (32 characters)
 * about 95 — too little: use 32 random bytes.
 */

/** Shortest accepted secret, in bytes (RFC 7518 §3.2: at least the HS256 hash size). */
export const minSecretBytes = 32;
/** Least estimated entropy of an accepted secret, in bits. */
export const minSecretBits = 128;

/** The verdict on one secret. */
export interface SecretStrength {
  readonly bytes: number;
  /** The entropy estimate, in bits (rounded down). */
  readonly estimatedBits: number;
  readonly short: boolean;
  readonly lowEntropy: boolean;
  /** The view that gave the lowest estimate: `symbols`, `steps` or `period`. */
  readonly weakestView: 'symbols' | 'steps' | 'period';
}

function shannonBits(values: ArrayLike<number>): number {
  if (values.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  let perSymbol = 0;
  for (const count of counts.values()) {
    const p = count / values.length;
    perSymbol -= p * Math.log2(p);
  }
  return perSymbol * values.length;
}

function stepBits(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const steps = new Uint8Array(bytes.length - 1);
  for (let i = 1; i < bytes.length; i++) {
    steps[i - 1] = ((bytes[i] as number) - (bytes[i - 1] as number) + 256) % 256;
  }
  return 8 + shannonBits(steps);
}

/** The shortest p < length with bytes[i] = bytes[i + p] for every i, or undefined. */
function smallestPeriod(bytes: Uint8Array): number | undefined {
  for (let p = 1; p <= bytes.length / 2; p++) {
    let repeats = true;
    for (let i = 0; i + p < bytes.length; i++) {
      if (bytes[i] !== bytes[i + p]) {
        repeats = false;
        break;
      }
    }
    if (repeats) return p;
  }
  return undefined;
}

/** Estimates the strength of `secret` (see the module comment for the rule). */
export function assessSecret(secret: Uint8Array | string): SecretStrength {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  const views: [SecretStrength['weakestView'], number][] = [
    ['symbols', shannonBits(bytes)],
    ['steps', stepBits(bytes)],
  ];
  const period = smallestPeriod(bytes);
  if (period !== undefined) {
    const block = bytes.subarray(0, period);
    views.push(['period', Math.min(shannonBits(block), stepBits(block))]);
  }
  const [weakestView, bits] = views.reduce((a, b) => (b[1] < a[1] ? b : a));
  const estimatedBits = Math.floor(bits);
  return {
    bytes: bytes.length,
    estimatedBits,
    short: bytes.length < minSecretBytes,
    lowEntropy: estimatedBits < minSecretBits,
    weakestView,
  };
}
