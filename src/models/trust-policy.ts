import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Config } from '../config/config-schema.js';
import { hashForKey } from './oms/signing-key.js';
import type { OmsTrust } from './oms/verify-envelope.js';
import {
  identitiesForModel,
  loadKeylessTrust,
  type IdentityAnchor,
  type KeylessTrust,
} from './oms/keyless-trust.js';

/** One trusted publisher key or root, and the models it may sign. */
export interface TrustAnchor {
  readonly kind: 'key' | 'root';
  /** The file it came from (its base name only, for logs and audit). */
  readonly name: string;
  readonly pem: string;
  /** A key anchor's public key, parsed and checked once at start-up (undefined for roots). */
  readonly key: KeyObject | undefined;
  /** Model-name patterns (`*` wildcard); undefined: any model. */
  readonly models: readonly RegExp[] | undefined;
}

/** The trust for one model: what the verifier takes, and how to name who signed. */
export interface ModelTrust extends OmsTrust {
  readonly keys: readonly KeyObject[];
  readonly roots: readonly string[];
  /** The name of the anchor behind the verifier's `keyIndex`. */
  keyName(index: number): string | undefined;
  /** The name of the anchor behind the verifier's `rootIndex` (certificates counted singly). */
  rootName(index: number): string | undefined;
  /** Every allowed anchor's name; empty when nothing may sign this model. */
  readonly names: readonly string[];
  /** The keyless identities allowed to sign this model. */
  readonly identities: readonly IdentityAnchor[];
  /** The name of the identity behind the verifier's `identityIndex`. */
  identityName(index: number): string | undefined;
}

/** Which keys and roots may sign which models. */
export interface TrustPolicy {
  readonly anchors: readonly TrustAnchor[];
  /** The keys and roots allowed to sign `model`, in the form the OMS verifier takes. */
  forModel(model: string): ModelTrust;
  /** True when no key, root or keyless identity is trusted at all. */
  readonly empty: boolean;
  /** `models.trustedIdentities` and the Sigstore trusted root they are checked against. */
  readonly keyless: KeylessTrust;
}

/** Turns a model-name pattern with `*` wildcards into an anchored regular expression. */
export function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/**
 * Reads `models.trustedKeys` and `models.trustedRoots`. Each key file must hold a public key
 * (text before `-----BEGIN` is tolerated), each root file a certificate. Keyless trust
 * (`models.trustedIdentities`, `models.sigstoreTrustedRoot`) is read by `loadKeylessTrust`.
 *
 * @throws Error naming the file and what is wrong with it.
 */
export async function loadTrustPolicy(config: Readonly<Config>): Promise<TrustPolicy> {
  const anchors: TrustAnchor[] = [];
  const entries = [
    ...config.models.trustedKeys.map((e) => ['key', e] as const),
    ...config.models.trustedRoots.map((e) => ['root', e] as const),
  ];
  for (const [kind, entry] of entries) {
    const file = typeof entry === 'string' ? entry : entry.file;
    const patterns = typeof entry === 'string' ? undefined : entry.models;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(
        `models.trusted${kind === 'key' ? 'Keys' : 'Roots'}: cannot read ${file} (${code})`,
        { cause: error },
      );
    }
    const begin = text.indexOf('-----BEGIN');
    const pem = begin >= 0 ? text.slice(begin) : text;
    const key = kind === 'key' ? parseTrustedKey(file, pem) : undefined;
    if (kind === 'root') {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new Error(
          `models.trustedRoots: ${file} is not a PEM certificate (${error instanceof Error ? error.message : String(error)})`,
          { cause: error },
        );
      }
    }
    anchors.push({ kind, name: basename(file), pem, key, models: patterns?.map(patternToRegExp) });
  }
  const keyless = await loadKeylessTrust(config.models, patternToRegExp);
  return {
    anchors,
    keyless,
    empty: anchors.length === 0 && keyless.identities.length === 0,
    forModel(model) {
      const identities = identitiesForModel(keyless, model);
      const allowed = anchors.filter((a) => a.models?.some((re) => re.test(model)) ?? true);
      const keys = allowed.filter((a) => a.kind === 'key');
      const roots = allowed.filter((a) => a.kind === 'root');
      // The verifier counts root certificates one by one, bundles split.
      const rootNames = roots.flatMap((a) =>
        new Array<string>(Math.max(1, a.pem.split('-----BEGIN CERTIFICATE-----').length - 1)).fill(
          a.name,
        ),
      );
      return {
        keys: keys.flatMap((a) => (a.key === undefined ? [] : [a.key])),
        roots: roots.map((a) => a.pem),
        keyName: (index) => keys[index]?.name,
        rootName: (index) => rootNames[index],
        names: [...keys, ...roots, ...identities].map((a) => a.name),
        identities,
        identityName: (index) => identities[index]?.name,
        ...(keyless.sigstoreRoot === undefined ? {} : { sigstoreRoot: keyless.sigstoreRoot }),
      };
    },
  };
}

/**
 * Parses one `models.trustedKeys` file into the key object every verification reuses, and checks
 * it is a type model signatures can use (ECDSA P-256, P-384 or P-521, as OMS signs).
 *
 * @throws Error naming the file, what it holds and the fix.
 */
function parseTrustedKey(file: string, pem: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) {
    throw new Error(
      `models.trustedKeys: ${file} holds a PRIVATE key; list the publisher's public key (bastion keygen writes PREFIX.pub.pem)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new Error(
      `models.trustedKeys: ${file} is not a PEM public key (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  try {
    hashForKey(key);
  } catch (error) {
    const type = key.asymmetricKeyType ?? 'unknown';
    const curve = key.asymmetricKeyDetails?.namedCurve;
    throw new Error(
      `models.trustedKeys: ${file} is a key of type ${type.toUpperCase()}${curve === undefined ? '' : ` ${curve}`}; model signatures cannot use it: ` +
        'trust an ECDSA P-256, P-384 or P-521 public key (`bastion keygen` makes one) and re-sign the models with it',
      { cause: error },
    );
  }
  return key;
}
