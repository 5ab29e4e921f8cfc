import { findAlgorithmProblems, minSharedSecretBytes } from '../config/jws-algorithms.js';
import type { KeySourceOptions } from './key-source.js';
import { sharedSecretBytes } from './shared-secret-key-source.js';

/** What {@link findAuthProblems} looks at: the verifier's options as configured, all optional. */
export interface AuthProblemsInput {
  /** `production` when NODE_ENV=production. */
  readonly mode: 'development' | 'production';
  /** True when the local development issuer supplies the keys. */
  readonly devIssuer: boolean;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  readonly algorithms?: readonly string[] | undefined;
  readonly keys?: KeySourceOptions | undefined;
}

/** One configuration problem, naming the field and the fix. */
export interface AuthProblem {
  /** The config field, e.g. `auth.issuer`. */
  readonly field: string;
  readonly message: string;
}

function isLoopback(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/**
 * Every problem with the auth configuration for a mode, each naming the fix; empty when it may
 * start. Production refuses the dev issuer, a missing issuer, audience or key source, and a
 * non-https JWKS URL; every mode refuses `none`, HS* without a shared secret (or a secret with
 * other algorithms) and a secret shorter than 32 bytes. Pure: reads no files.
 */
export function findAuthProblems(input: AuthProblemsInput): AuthProblem[] {
  const problems: AuthProblem[] = [];
  const production = input.mode === 'production';
  if (production && input.devIssuer) {
    problems.push({
      field: 'auth',
      message:
        'the development token issuer is not allowed in production: set auth.issuer, auth.audience and auth.jwksFile or auth.jwksUrl of your identity provider',
    });
  }
  if (production && (input.issuer ?? '') === '') {
    problems.push({
      field: 'auth.issuer',
      message: "auth.issuer is required in production: set it to your identity provider's issuer",
    });
  }
  if (production && (input.audience ?? '') === '') {
    problems.push({
      field: 'auth.audience',
      message: 'auth.audience is required in production: set it to the audience your tokens carry',
    });
  }
  const keys = input.keys;
  if (keys === undefined) {
    if (production || !input.devIssuer) {
      problems.push({
        field: 'auth.jwksFile',
        message: 'no token key source: set auth.jwksFile or auth.jwksUrl',
      });
    }
  } else if (keys.kind === 'jwks-url') {
    let url: URL | undefined;
    try {
      url = new URL(keys.url);
    } catch {
      problems.push({ field: 'auth.jwksUrl', message: 'auth.jwksUrl must be an absolute URL' });
    }
    if (url !== undefined && url.protocol !== 'https:' && (production || !isLoopback(url))) {
      problems.push({
        field: 'auth.jwksUrl',
        message:
          'auth.jwksUrl must use https (plain http only to a loopback address, not in production)',
      });
    }
  } else if (keys.kind === 'shared-secret') {
    const length = sharedSecretBytes(keys.secret).byteLength;
    if (length < minSharedSecretBytes) {
      problems.push({
        field: 'auth.sharedSecret',
        message: `the auth shared secret has ${length} bytes: use at least ${minSharedSecretBytes} random bytes`,
      });
    }
  }
  if (input.algorithms !== undefined) {
    const kind = keys?.kind === 'shared-secret' ? 'shared-secret' : 'jwks';
    for (const message of findAlgorithmProblems(input.algorithms, kind)) {
      problems.push({ field: 'auth.algorithms', message });
    }
  }
  return problems;
}
