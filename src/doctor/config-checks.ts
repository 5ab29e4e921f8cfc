import type { Config } from '../config/config-schema.js';
import { type Finding, isLoopbackHost } from './finding.js';

/** Requests per minute at or beyond which a limit never triggers on one instance. */
export const effectivelyUnlimitedPerMinute = 1_000_000;

/**
 * The checks that read only the configuration (no file): listener without TLS, metrics open,
 * HS* algorithms, dev issuer, no trust anchors, unsigned models, audit off / unkeyed / fail-open,
 * rate limits that never trigger.
 */
export function checkConfig(config: Readonly<Config>): Finding[] {
  return [
    ...listenerFindings(config),
    ...authFindings(config),
    ...modelTrustFindings(config),
    ...auditFindings(config),
    ...rateLimitFindings(config),
  ];
}

/** The API listener without TLS, and a metrics listener open beyond loopback. */
function listenerFindings({ server, metrics }: Readonly<Config>): Finding[] {
  const findings: Finding[] = [];
  if (!isLoopbackHost(server.host) && server.tls === undefined) {
    findings.push({
      id: 'tls-missing',
      severity: 'high',
      key: 'server.tls',
      message: `the API listens on ${server.host} without TLS; tokens and tensors cross the network in clear`,
      fix: 'set server.tls.certFile and keyFile, or bind server.host: 127.0.0.1 behind a TLS-terminating proxy',
    });
  }
  if (metrics.enabled && !isLoopbackHost(metrics.host) && metrics.bearerTokenFile === undefined) {
    findings.push({
      id: 'metrics-open',
      severity: 'high',
      key: 'metrics.bearerTokenFile',
      message: `the metrics listener binds ${metrics.host} and anyone who reaches it can scrape model names and traffic`,
      fix: 'set metrics.bearerTokenFile (a file holding a random token), or bind metrics.host: 127.0.0.1',
    });
  }
  return findings;
}

/** Shared-secret (HS*) token algorithms and the development issuer. */
function authFindings({ auth }: Readonly<Config>): Finding[] {
  const findings: Finding[] = [];
  const hs = auth.algorithms.filter((a) => a.startsWith('HS'));
  if (hs.length > 0) {
    findings.push({
      id: 'hs-algorithm',
      severity: 'medium',
      key: 'auth.algorithms',
      message: `${hs.join(', ')}: a shared secret lets whoever holds it (the gateway included) mint tokens`,
      fix: 'prefer ES256 or EdDSA with auth.jwksFile / auth.jwksUrl, so the gateway holds only public keys',
    });
  }
  if (auth.devIssuer) {
    findings.push({
      id: 'dev-issuer',
      severity: 'high',
      key: 'auth.devIssuer',
      message: 'the local development issuer signs tokens with a key kept on this machine',
      fix: 'set auth.devIssuer: false and configure auth.issuer, auth.audience and auth.jwksFile / auth.jwksUrl',
    });
  }
  return findings;
}

/** No trust anchor at all, an identity without issuer, unsigned models allowed. */
function modelTrustFindings(config: Readonly<Config>): Finding[] {
  const findings: Finding[] = [];
  const { models } = config;
  const identities = (models as { trustedIdentities?: unknown }).trustedIdentities;
  const anchors =
    models.trustedKeys.length +
    models.trustedRoots.length +
    (Array.isArray(identities) ? identities.length : 0);
  if (anchors === 0) {
    findings.push({
      id: 'no-trusted-keys',
      severity: 'high',
      key: 'models.trustedKeys',
      message: 'no publisher key, root or identity is trusted, so no signed model can load',
      fix: 'list the publisher public keys in models.trustedKeys (or CA files in models.trustedRoots)',
    });
  }
  const issuerless = models.trustedIdentities.find((entry) => entry.issuer === undefined);
  if (issuerless !== undefined) {
    findings.push({
      id: 'identity-without-issuer',
      severity: config.mode === 'production' ? 'high' : 'medium',
      key: 'models.trustedIdentities',
      message: `"${issuerless.identity}" has no issuer: an e-mail identity alone can be certified by any OIDC provider Fulcio accepts`,
      fix: 'give every trusted identity the OIDC issuer that must have vouched for it (issuer: https://…)',
    });
  }
  if (models.allowUnsigned) {
    findings.push({
      id: 'unsigned-allowed',
      severity: 'high',
      key: 'models.allowUnsigned',
      message: 'models without a signature are served',
      fix: 'sign the models (npx bastion sign), list the publisher key in models.trustedKeys and set models.allowUnsigned: false',
    });
  }
  return findings;
}

/** Audit off, its chain unkeyed, or failing open. */
function auditFindings(config: Readonly<Config>): Finding[] {
  const findings: Finding[] = [];
  const { audit } = config;
  if (!audit.enabled) {
    findings.push({
      id: 'audit-disabled',
      severity: 'high',
      key: 'audit.enabled',
      message: 'no audit record is written for any call',
      fix: 'set audit.enabled: true and audit.path on a persistent volume',
    });
  } else {
    if (audit.hmacKeyFile === undefined) {
      const dev = config.mode !== 'production';
      findings.push({
        id: 'audit-not-keyed',
        // A development start keys the chain itself, with a key it creates under stateDir.
        severity: dev ? 'low' : 'high',
        key: 'audit.hmacKeyFile',
        message: dev
          ? 'the audit chain is keyed with a development key created under stateDir; production needs a key of its own'
          : 'the audit chain is not keyed: anyone who can write the file can rewrite and re-hash it undetected',
        fix: 'create a key (head -c 32 /dev/urandom > audit-hmac.key; chmod 600) and set audit.hmacKeyFile',
      });
    }
    if (audit.failClosed === false) {
      findings.push({
        id: 'audit-fail-open',
        severity: 'high',
        key: 'audit.failClosed',
        message:
          'when the audit log cannot be written, responses still go out without their record',
        fix: 'set audit.failClosed: true (the production default)',
      });
    }
  }
  return findings;
}

/** Rate limits so high they never trigger. */
function rateLimitFindings({ limits }: Readonly<Config>): Finding[] {
  const findings: Finding[] = [];
  for (const key of ['requestsPerMinute', 'unauthenticatedPerMinute'] as const) {
    if (limits[key] >= effectivelyUnlimitedPerMinute) {
      findings.push({
        id: 'rate-limit-off',
        severity: 'medium',
        key: `limits.${key}`,
        message: `${limits[key]} requests per minute is more than one instance can serve, so the limit never triggers`,
        fix: `set limits.${key} to what one caller may legitimately send (default ${key === 'requestsPerMinute' ? 600 : 60})`,
      });
    }
  }
  return findings;
}
