/** How bad a doctor finding is; `serve` in production refuses on `high`. */
export type Severity = 'high' | 'medium' | 'low';

/** The severities, worst first (the order `--fail-on` compares by). */
export const severities: readonly Severity[] = ['high', 'medium', 'low'];

/** One thing `bastion doctor` found: where, what, and how to fix it. */
export interface Finding {
  /** Stable identifier of the check (`metrics-open`, `hs-secret-weak`, …). */
  readonly id: string;
  readonly severity: Severity;
  /** The configuration key (or file) concerned, e.g. `metrics.host`. */
  readonly key: string;
  readonly message: string;
  readonly fix: string;
}

/** True when `severity` is `threshold` or worse. */
export function isAtLeast(severity: Severity, threshold: Severity): boolean {
  return severities.indexOf(severity) <= severities.indexOf(threshold);
}

/** `key: message (fix: …)`, the one-line form used by `serve` refusals and the doctor. */
export function formatFinding(finding: Finding): string {
  return `${finding.key}: ${finding.message} (fix: ${finding.fix})`;
}

/** True for a host that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
}
