import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Config } from '../config/config-schema.js';
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
  /** Model-name patterns (`*` wildcard); undefined: any model. */
  readonly models: readonly RegExp[] | undefined;
}

/** The trust for one model: what the verifier takes, and how to name who signed. */
export interface ModelTrust extends OmsTrust {
  readonly keys: readonly string[];
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
    } catch {
      throw new Error(`models.trusted${kind === 'key' ? 'Keys' : 'Roots'}: cannot read ${file}`);
    }
    const begin = text.indexOf('-----BEGIN');
    const pem = begin >= 0 ? text.slice(begin) : text;
    try {
      if (kind === 'key') {
        if (/PRIVATE KEY/.test(pem)) throw new Error('it holds a PRIVATE key; list the public key');
        createPublicKey(pem);
      } else {
        new X509Certificate(pem);
      }
    } catch (error) {
      throw new Error(
        `models.trusted${kind === 'key' ? 'Keys' : 'Roots'}: ${file} is not a PEM ${kind === 'key' ? 'public key' : 'certificate'} (${error instanceof Error ? error.message : String(error)})`,
        { cause: error },
      );
    }
    anchors.push({ kind, name: basename(file), pem, models: patterns?.map(patternToRegExp) });
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
        keys: keys.map((a) => a.pem),
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
