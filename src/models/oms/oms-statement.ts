import { createHash } from 'node:crypto';
import { OmsVerificationError } from './oms-verification-error.js';
import { assertResourceName, parseShardName } from './resource-name.js';

/** The in-toto statement type OMS uses. */
export const statementType = 'https://in-toto.io/Statement/v1';
/** The OMS v1.0 predicate type. */
export const omsPredicateType = 'https://model_signing/signature/v1.0';
/** The predicate `model_signing` v0.2 wrote (one subject per file, no serialization block). */
export const legacyPredicateType = 'https://model_signing/Digests/v0.1';

/** How the signer cut the model into resources. */
export type SerializationMethod = 'files' | 'shards';

/** A verified statement's content, in document order. */
export interface OmsStatement {
  readonly predicateType: typeof omsPredicateType | typeof legacyPredicateType;
  readonly method: SerializationMethod;
  /** Bytes per shard (shards only). */
  readonly shardSize: number | undefined;
  /** `ignore_paths` the signer recorded (relative to the model root, or to the signer's cwd). */
  readonly ignorePaths: readonly string[];
  /** Signed resources: name → lowercase hex SHA-256, in document order, names unique. */
  readonly resources: ReadonlyMap<string, string>;
}

const hexDigest = /^[0-9a-fA-F]{64}$/;

/** A short, printable rendering of an untrusted JSON value for a message. */
function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value).slice(0, 60);
}

function invalid(message: string): OmsVerificationError {
  return new OmsVerificationError('statement-invalid', `signed statement is invalid: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readDigest(value: unknown, field: string): string {
  if (typeof value !== 'string' || !hexDigest.test(value)) throw invalid(`${field} is not sha256`);
  return value.toLowerCase();
}

function addResource(resources: Map<string, string>, name: unknown, digest: string): void {
  if (typeof name !== 'string') throw invalid('a resource has no name');
  if (resources.has(name)) {
    throw new OmsVerificationError(
      'resource-name',
      `signature lists resource ${JSON.stringify(name)} twice`,
    );
  }
  resources.set(name, digest);
}

function parseLegacy(subjects: unknown[]): OmsStatement {
  const resources = new Map<string, string>();
  for (const subject of subjects) {
    if (!isRecord(subject) || !isRecord(subject.digest)) throw invalid('a subject has no digest');
    const annotations = isRecord(subject.annotations) ? subject.annotations : {};
    const algorithm = annotations.actual_hash_algorithm;
    if (algorithm !== undefined && algorithm !== 'file-sha256') {
      throw new OmsVerificationError(
        'unsupported',
        `legacy signatures hashed with ${show(algorithm)} are not supported`,
      );
    }
    const name = subject.name;
    if (typeof name === 'string') assertResourceName(name);
    addResource(resources, name, readDigest(subject.digest.sha256, 'subject digest'));
  }
  return {
    predicateType: legacyPredicateType,
    method: 'files',
    shardSize: undefined,
    ignorePaths: [],
    resources,
  };
}

function parseSerialization(
  value: unknown,
): Pick<OmsStatement, 'method' | 'shardSize' | 'ignorePaths'> {
  if (!isRecord(value)) throw invalid('predicate.serialization is missing');
  const { method, hash_type: hashType, shard_size: shardSize, ignore_paths: ignorePaths } = value;
  if (method !== 'files' && method !== 'shards') {
    throw new OmsVerificationError(
      'unsupported',
      `serialization method ${show(method)} is not supported`,
    );
  }
  if (hashType !== 'sha256') {
    throw new OmsVerificationError('unsupported', `hash type ${show(hashType)} is not supported`);
  }
  if (
    ignorePaths !== undefined &&
    (!Array.isArray(ignorePaths) || !ignorePaths.every((p) => typeof p === 'string'))
  ) {
    throw invalid('serialization.ignore_paths is not a list of strings');
  }
  if (
    method === 'shards' &&
    (typeof shardSize !== 'number' || !Number.isSafeInteger(shardSize) || shardSize <= 0)
  ) {
    throw invalid('serialization.shard_size is not a positive integer');
  }
  return {
    method,
    shardSize: method === 'shards' ? (shardSize as number) : undefined,
    ignorePaths: ignorePaths ?? [],
  };
}

/**
 * Parses the VERIFIED payload of an OMS bundle and checks it: statement type, predicate type,
 * exactly one subject whose digest is SHA-256 over the concatenated raw resource digests in
 * document order, a non-empty resource list, safe and unique resource names. The legacy v0.2
 * predicate (one subject per file) is accepted too.
 * @throws OmsVerificationError `statement-invalid`, `predicate-type`, `subject-digest`,
 *   `resource-name` or `unsupported`.
 */
export function parseOmsStatement(payload: Buffer): OmsStatement {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalid('payload is not JSON');
  }
  if (!isRecord(json)) throw invalid('payload is not an object');
  if (json._type !== statementType) throw invalid(`_type must be ${statementType}`);
  const { subject: subjects, predicate, predicateType } = json;
  if (!Array.isArray(subjects)) throw invalid('subject is missing');
  if (predicateType === legacyPredicateType) {
    if (subjects.length === 0) throw invalid('subject is empty');
    return parseLegacy(subjects);
  }
  if (predicateType !== omsPredicateType) {
    throw new OmsVerificationError('predicate-type', `predicateType must be ${omsPredicateType}`);
  }
  const [subject] = subjects as unknown[];
  if (subjects.length !== 1 || !isRecord(subject) || !isRecord(subject.digest)) {
    throw invalid('there must be exactly one subject with a digest');
  }
  const subjectDigest = readDigest(subject.digest.sha256, 'subject digest');
  if (!isRecord(predicate)) throw invalid('predicate is missing');
  const serialization = parseSerialization(predicate.serialization);
  const list = predicate.resources;
  if (!Array.isArray(list) || list.length === 0) throw invalid('predicate.resources is empty');
  const resources = new Map<string, string>();
  const root = createHash('sha256');
  for (const resource of list as unknown[]) {
    if (!isRecord(resource)) throw invalid('a resource is not an object');
    const { name, algorithm } = resource;
    const digest = readDigest(resource.digest, 'resource digest');
    if (typeof algorithm !== 'string' || !algorithm.startsWith('sha256')) {
      throw new OmsVerificationError(
        'unsupported',
        `resource algorithm ${show(algorithm)} is not supported`,
      );
    }
    if (typeof name === 'string') {
      if (serialization.method === 'shards') parseShardName(name);
      else assertResourceName(name);
    }
    addResource(resources, name, digest);
    root.update(Buffer.from(digest, 'hex'));
  }
  if (root.digest('hex') !== subjectDigest) {
    throw new OmsVerificationError(
      'subject-digest',
      'subject digest does not match the signed resources',
    );
  }
  return { predicateType: omsPredicateType, ...serialization, resources };
}
