import {
  loadSigstoreTrustedRoot,
  publicGoodTrustedRoot,
  type SigstoreTrustedRoot,
} from './sigstore-trusted-root.js';
import type { TrustedIdentity } from './verify-keyless.js';

/** One entry of `models.trustedIdentities`, as the configuration gives it. */
export interface TrustedIdentityEntry {
  readonly identity: string;
  readonly issuer?: string | undefined;
  readonly models?: readonly string[] | undefined;
}

/** A trusted keyless signer and the models it may sign. */
export interface IdentityAnchor extends TrustedIdentity {
  /** How logs and audit name it: `identity (issuer)`. */
  readonly name: string;
  /** Model-name patterns; undefined: any model. */
  readonly models: readonly RegExp[] | undefined;
}

/** The keyless half of the trust policy: who may sign, checked against which trusted root. */
export interface KeylessTrust {
  readonly identities: readonly IdentityAnchor[];
  /** Undefined when no identity is trusted and no root file was configured. */
  readonly sigstoreRoot: SigstoreTrustedRoot | undefined;
}

/** How audit records and logs name a keyless signer. */
export function identityName(identity: TrustedIdentity): string {
  return `${identity.identity} (${identity.issuer ?? 'any issuer'})`;
}

/**
 * Reads `models.trustedIdentities` and `models.sigstoreTrustedRoot` (default: the public-good
 * root shipped with Bastion, never fetched). `toPattern` compiles the `models` name patterns the
 * same way as for keys.
 * @throws Error naming the configuration field and what is wrong.
 */
export async function loadKeylessTrust(
  models: {
    readonly trustedIdentities?: readonly TrustedIdentityEntry[] | undefined;
    readonly sigstoreTrustedRoot?: string | undefined;
  },
  toPattern: (pattern: string) => RegExp,
): Promise<KeylessTrust> {
  const entries = models.trustedIdentities ?? [];
  const identities = entries.map((entry) => ({
    identity: entry.identity,
    issuer: entry.issuer,
    name: identityName(entry),
    models: entry.models?.map(toPattern),
  }));
  let sigstoreRoot: SigstoreTrustedRoot | undefined;
  try {
    if (models.sigstoreTrustedRoot !== undefined) {
      sigstoreRoot = await loadSigstoreTrustedRoot(models.sigstoreTrustedRoot);
    } else if (identities.length > 0) {
      sigstoreRoot = publicGoodTrustedRoot();
    }
  } catch (error) {
    throw new Error(
      `models.sigstoreTrustedRoot: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return { identities, sigstoreRoot };
}

/** The identities of `trust` allowed to sign `model`. */
export function identitiesForModel(trust: KeylessTrust, model: string): IdentityAnchor[] {
  return trust.identities.filter((a) => a.models?.some((re) => re.test(model)) ?? true);
}
