// A private Sigstore instance made at test time: a Fulcio-like CA (root + intermediate), a CT log
// key and a Rekor log key, with the trusted_root.json that describes them. It issues real X.509
// certificates with an embedded SCT and writes real Rekor entries with a signed entry timestamp,
// so keyless bundles with any identity, issuer, validity or log time can be verified by the same
// code path as the public-good ones (which nobody can sign here). Test use only.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import {
  tlv,
  seq,
  set,
  octets,
  utf8,
  bool,
  bits,
  integer,
  oid,
  time,
  extension,
  ecdsaSha256,
  spki,
  keyId,
} from './der.js';

const name = (cn: string): Buffer =>
  seq(set(seq(oid('2.5.4.10'), utf8('bastion-test'))), set(seq(oid('2.5.4.3'), utf8(cn))));

const randomSerial = (): bigint => BigInt(`0x${randomBytes(15).toString('hex')}`);

interface Issued {
  readonly der: Buffer;
  readonly key: KeyObject;
}

function certificate(options: {
  subject: Buffer;
  issuer: Buffer;
  publicKey: KeyObject;
  signer: KeyObject;
  from: Date;
  to: Date;
  extensions: Buffer[];
  serial?: bigint;
}): { tbs: Buffer; der: Buffer } {
  const tbs = seq(
    tlv(0xa0, integer(2n)),
    integer(options.serial ?? randomSerial()),
    ecdsaSha256,
    options.issuer,
    seq(time(options.from), time(options.to)),
    options.subject,
    spki(options.publicKey),
    tlv(0xa3, seq(...options.extensions)),
  );
  const signature = sign('sha256', tbs, options.signer);
  return { tbs, der: seq(tbs, ecdsaSha256, bits(signature)) };
}

const b64 = (bytes: Buffer): string => bytes.toString('base64');
const pem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${b64(der).replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;

/** Options for one keyless signature. */
export interface KeylessSignOptions {
  readonly identity: string;
  readonly issuer: string;
  /** When Rekor "recorded" the entry. Default: now. */
  readonly integratedTime?: Date;
  /** The Fulcio certificate's validity. Default: integratedTime - 1 min to + 10 min. */
  readonly validFrom?: Date;
  readonly validTo?: Date;
  readonly ignorePaths?: readonly string[];
  readonly signatureFile?: string;
  /**
   * Issue the certificate without: its SCT; the code-signing EKU (serverAuth instead); the EKU
   * extension at all; the key usage extension; digitalSignature in the key usage (keyCertSign
   * instead); the SAN.
   */
  readonly omit?: 'sct' | 'code-signing' | 'eku' | 'key-usage' | 'digital-signature' | 'san';
  /** The SAN's type: an rfc822Name (e-mail, default) or a URI (CI workflow identities). */
  readonly san?: 'email' | 'uri';
  /** The Fulcio issuer extensions to write (default both `issuer`): v1 1.1 (raw), v2 1.8 (UTF8). */
  readonly issuerExtensions?: { readonly v1?: string; readonly v2?: string };
  /** Sign the envelope with a key other than the certificate's (logged as it is; refusal tests). */
  readonly signWithOtherKey?: boolean;
  /** Log this body instead of the Rekor entry (its SET and inclusion proof still verify). */
  readonly logBody?: Buffer;
}

/** A private Sigstore instance for tests. */
export interface TestSigstore {
  /** The instance's trusted_root.json text. */
  readonly trustedRootJson: string;
  /** Signs `root` keyless (OMS, like `model_signing sign` without a key); returns the bundle text. */
  signKeyless(root: string, options: KeylessSignOptions): Promise<string>;
}

const ec = (): { privateKey: KeyObject; publicKey: KeyObject } =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

/** Creates a private Sigstore instance with fresh keys; its CA and logs are valid since 2020. */
export function createTestSigstore(): TestSigstore {
  const since = new Date('2020-01-01T00:00:00Z');
  const until = new Date('2099-01-01T00:00:00Z');
  const rootKeys = ec();
  const intermediateKeys = ec();
  const ctKeys = ec();
  const rekorKeys = ec();
  const rootName = name('test-fulcio-root');
  const intermediateName = name('test-fulcio-intermediate');
  const caExtensions = (key: KeyObject): Buffer[] => [
    extension('2.5.29.15', bits(Buffer.from([0x06]), 1), true), // keyCertSign, cRLSign
    extension('2.5.29.19', seq(bool(true)), true),
    extension('2.5.29.14', octets(keyId(key))),
  ];
  const root: Issued = {
    key: rootKeys.privateKey,
    der: certificate({
      subject: rootName,
      issuer: rootName,
      publicKey: rootKeys.publicKey,
      signer: rootKeys.privateKey,
      from: since,
      to: until,
      extensions: caExtensions(rootKeys.publicKey),
    }).der,
  };
  const intermediate: Issued = {
    key: intermediateKeys.privateKey,
    der: certificate({
      subject: intermediateName,
      issuer: rootName,
      publicKey: intermediateKeys.publicKey,
      signer: root.key,
      from: since,
      to: until,
      extensions: [
        ...caExtensions(intermediateKeys.publicKey),
        extension('2.5.29.35', seq(tlv(0x80, keyId(rootKeys.publicKey)))),
      ],
    }).der,
  };
  const logId = (key: KeyObject): Buffer => createHash('sha256').update(spki(key)).digest();
  const logEntry = (baseUrl: string, key: KeyObject) => ({
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: b64(spki(key)),
      keyDetails: 'PKIX_ECDSA_P256_SHA_256',
      validFor: { start: since.toISOString() },
    },
    logId: { keyId: b64(logId(key)) },
  });
  const trustedRootJson = JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [logEntry('https://rekor.test.invalid', rekorKeys.publicKey)],
    certificateAuthorities: [
      {
        subject: { organization: 'bastion-test', commonName: 'test-fulcio' },
        uri: 'https://fulcio.test.invalid',
        certChain: {
          certificates: [{ rawBytes: b64(intermediate.der) }, { rawBytes: b64(root.der) }],
        },
        validFor: { start: since.toISOString() },
      },
    ],
    ctlogs: [logEntry('https://ctfe.test.invalid', ctKeys.publicKey)],
    timestampAuthorities: [],
  });

  function issueLeaf(leafKey: KeyObject, options: KeylessSignOptions, at: Date): Buffer {
    const from = options.validFrom ?? new Date(at.getTime() - 60_000);
    const to = options.validTo ?? new Date(at.getTime() + 600_000);
    const omit = options.omit;
    const extensions = [
      // digitalSignature (keyCertSign when told to omit it)
      ...(omit === 'key-usage'
        ? []
        : [
            omit === 'digital-signature'
              ? extension('2.5.29.15', bits(Buffer.from([0x04]), 2), true)
              : extension('2.5.29.15', bits(Buffer.from([0x80]), 7), true),
          ]),
      // codeSigning (serverAuth when told to omit it)
      ...(omit === 'eku'
        ? []
        : [
            extension(
              '2.5.29.37',
              seq(oid(omit === 'code-signing' ? '1.3.6.1.5.5.7.3.1' : '1.3.6.1.5.5.7.3.3')),
            ),
          ]),
      extension('2.5.29.14', octets(keyId(leafKey))),
      extension('2.5.29.35', seq(tlv(0x80, keyId(intermediateKeys.publicKey)))),
      ...(omit === 'san'
        ? []
        : [
            extension(
              '2.5.29.17',
              seq(tlv(options.san === 'uri' ? 0x86 : 0x81, Buffer.from(options.identity))),
              true,
            ),
          ]),
    ];
    const issuers = options.issuerExtensions ?? { v1: options.issuer, v2: options.issuer };
    if (issuers.v1 !== undefined)
      extensions.push(extension('1.3.6.1.4.1.57264.1.1', Buffer.from(issuers.v1)));
    if (issuers.v2 !== undefined)
      extensions.push(extension('1.3.6.1.4.1.57264.1.8', utf8(issuers.v2)));
    const base = {
      subject: seq(),
      issuer: intermediateName,
      publicKey: leafKey,
      signer: intermediate.key,
      from,
      to,
      serial: randomSerial(),
    };
    // RFC 6962 precertificate SCT over the TBS without the SCT extension.
    const precert = certificate({ ...base, extensions }).tbs;
    const timestamp = Buffer.alloc(8);
    timestamp.writeBigUInt64BE(BigInt(from.getTime() + 1000));
    const issuerKeyHash = createHash('sha256').update(spki(intermediateKeys.publicKey)).digest();
    const tbsLength = Buffer.from([
      precert.length >> 16,
      (precert.length >> 8) & 0xff,
      precert.length & 0xff,
    ]);
    const signed = Buffer.concat([
      Buffer.from([0, 0]),
      timestamp,
      Buffer.from([0, 1]),
      issuerKeyHash,
      tbsLength,
      precert,
      Buffer.from([0, 0]),
    ]);
    const sctSignature = sign('sha256', signed, ctKeys.privateKey);
    const sigLength = Buffer.alloc(2);
    sigLength.writeUInt16BE(sctSignature.length);
    const sct = Buffer.concat([
      Buffer.from([0]),
      logId(ctKeys.publicKey),
      timestamp,
      Buffer.from([0, 0]),
      Buffer.from([4, 3]), // sha256, ecdsa
      sigLength,
      sctSignature,
    ]);
    const list = Buffer.alloc(4);
    list.writeUInt16BE(sct.length + 2, 0);
    list.writeUInt16BE(sct.length, 2);
    const sctExtension = extension('1.3.6.1.4.1.11129.2.4.2', octets(Buffer.concat([list, sct])));
    const all = options.omit === 'sct' ? extensions : [...extensions, sctExtension];
    return certificate({ ...base, extensions: all }).der;
  }

  return {
    trustedRootJson,
    async signKeyless(modelRoot, options) {
      const at = options.integratedTime ?? new Date();
      const leaf = ec();
      const signed = await signModelDirectory({
        root: modelRoot,
        privateKeyPem: options.signWithOtherKey === true ? ec().privateKey : leaf.privateKey,
        ...(options.ignorePaths === undefined ? {} : { ignorePaths: options.ignorePaths }),
        ...(options.signatureFile === undefined ? {} : { signatureFile: options.signatureFile }),
      });
      const bundle = JSON.parse(signed.bundleJson) as {
        verificationMaterial: unknown;
        dsseEnvelope: { payload: string; signatures: [{ sig: string }] };
      };
      const cert = issueLeaf(leaf.publicKey, options, at);
      const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
      const entryBody = Buffer.from(
        JSON.stringify({
          apiVersion: '0.0.1',
          kind: 'dsse',
          spec: {
            envelopeHash: { algorithm: 'sha256', value: '00'.repeat(32) },
            payloadHash: {
              algorithm: 'sha256',
              value: createHash('sha256').update(payload).digest('hex'),
            },
            signatures: [
              {
                signature: bundle.dsseEnvelope.signatures[0].sig,
                verifier: b64(Buffer.from(pem(cert))),
              },
            ],
          },
        }),
      );
      const body = options.logBody ?? entryBody;
      const integratedTime = Math.floor(at.getTime() / 1000);
      const logIndex = 1;
      // A two-entry log (a neighbour, then this entry) and its signed checkpoint.
      const leafHash = (leaf: Buffer): Buffer =>
        createHash('sha256')
          .update(Buffer.from([0]))
          .update(leaf)
          .digest();
      const neighbour = leafHash(Buffer.from('another entry'));
      const rootHash = createHash('sha256')
        .update(Buffer.from([1]))
        .update(neighbour)
        .update(leafHash(body))
        .digest();
      const note = `rekor.test.invalid - 1\n2\n${b64(rootHash)}\n`;
      const noteSignature = Buffer.concat([
        logId(rekorKeys.publicKey).subarray(0, 4),
        sign('sha256', Buffer.from(note), rekorKeys.privateKey),
      ]);
      const inclusionProof = {
        logIndex: String(logIndex),
        rootHash: b64(rootHash),
        treeSize: '2',
        hashes: [b64(neighbour)],
        checkpoint: { envelope: `${note}\n\u2014 rekor.test.invalid ${b64(noteSignature)}\n` },
      };
      // The SET: the log key's signature over the canonical JSON of these four fields.
      const setPayload = `{"body":"${b64(body)}","integratedTime":${integratedTime},"logID":"${logId(rekorKeys.publicKey).toString('hex')}","logIndex":${logIndex}}`;
      bundle.verificationMaterial = {
        certificate: { rawBytes: b64(cert) },
        tlogEntries: [
          {
            logIndex: String(logIndex),
            logId: { keyId: b64(logId(rekorKeys.publicKey)) },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: String(integratedTime),
            inclusionPromise: {
              signedEntryTimestamp: b64(
                sign('sha256', Buffer.from(setPayload), rekorKeys.privateKey),
              ),
            },
            inclusionProof,
            canonicalizedBody: b64(body),
          },
        ],
        timestampVerificationData: {},
      };
      const json = JSON.stringify(bundle);
      await writeFile(signed.signaturePath, json);
      return json;
    },
  };
}

/** Rewrites a bundle file through `edit` (for tampering tests). */
export async function editBundle(
  path: string,
  edit: (bundle: {
    verificationMaterial: {
      tlogEntries: Record<string, unknown>[];
      certificate: { rawBytes: string };
    };
  }) => void,
): Promise<void> {
  const bundle = JSON.parse(await readFile(resolve(path), 'utf8')) as Parameters<typeof edit>[0];
  edit(bundle);
  await writeFile(path, JSON.stringify(bundle));
}
