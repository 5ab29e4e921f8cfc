/** Longest lifetime of a dev-issuer token, in seconds (24 h). */
export const maxTokenTtlSec = 86_400;

const units: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/**
 * Parses a token lifetime such as `30s`, `15m`, `1h` (a bare number is seconds) into seconds.
 *
 * @returns the seconds, or undefined when the text is not a duration in 1 s … 24 h.
 */
export function parseTokenTtl(text: string): number | undefined {
  const match = /^(\d{1,6})([smh]?)$/.exec(text.trim());
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const seconds = Number(amount) * (units[unit === '' ? 's' : unit] ?? 1);
  return seconds >= 1 && seconds <= maxTokenTtlSec ? seconds : undefined;
}
