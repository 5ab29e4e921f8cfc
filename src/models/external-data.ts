/**
 * The external-data policy applied to every model version at load. ONNX Runtime, given model
 * bytes whose tensors say `data_location: EXTERNAL`, would open `location` itself — relative to the
 * process's working directory, after the signature was checked — so by default such a version is
 * refused. With `allowExternalData: true` in the model's tuning, each location must name a file
 * of the same version folder that was read (and, when signed, verified) with it; those in-memory
 * bytes are then handed to ONNX Runtime, which never opens a file.
 */
import { RefusalError, type RefusalCodeOf } from '../errors.js';
import { findExternalData, OnnxParseError } from './onnx-external-data.js';

/**
 * One verified external-data file, as ONNX Runtime's `externalData` session option takes it.
 * Defined here, where verification produces it; the engines (`src/inference/`) consume it.
 */
export interface ExternalDataFile {
  /** Exactly the `location` written in the model (ONNX Runtime matches it byte for byte). */
  readonly path: string;
  readonly data: Uint8Array;
}

/**
 * A stable reason for refusing a version's content (`refusalCodes.content`), as it appears in
 * the index and audit log: `external-data` (see above), `model-malformed` (not a well-formed ONNX
 * protobuf), `unreadable` (a file of the version, its signature included, exists but cannot be
 * read).
 */
export type ModelContentReason = RefusalCodeOf<'content'>;

/** Why a version's files were refused; `code` (also `reason`) is stable for alerts and audit queries. */
export class ModelContentError extends RefusalError<ModelContentReason> {
  constructor(reason: ModelContentReason, message: string, options?: ErrorOptions) {
    super(reason, message, options);
    this.name = 'ModelContentError';
  }
}

/** A relative POSIX path of plain segments: no absolute path, `.`/`..`, backslash, NUL or odd byte. */
const segmentPattern = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,254}$/;
/** Files that are never external data: the model itself, its ciphertext, its signature. */
const modelFiles = new Set(['model.onnx', 'model.onnx.enc', 'model.sig']);

function checkLocation(location: string, files: ReadonlyMap<string, Buffer>): string | undefined {
  if (location.length === 0) return 'has an empty location';
  if (location.length > 1024) return 'has a location longer than 1024 characters';
  const shown = JSON.stringify(location.length > 80 ? `${location.slice(0, 77)}...` : location);
  if (location.startsWith('/') || /^[A-Za-z]:/.test(location)) {
    return `names the absolute path ${shown}`;
  }
  const segments = location.split('/');
  if (segments.some((s) => s === '..')) return `names ${shown}, which leaves the version folder`;
  if (!segments.every((s) => segmentPattern.test(s))) {
    return `names ${shown}; a location must be a plain relative path (letters, digits, . _ + -)`;
  }
  if (modelFiles.has(location)) return `names ${shown}, which is not a data file`;
  if (!files.has(location)) return `names ${shown}, which is not a file of this version folder`;
  return undefined;
}

function checkRange(
  offset: string | undefined,
  length: string | undefined,
  size: number,
): string | undefined {
  const number = (text: string | undefined): number | undefined =>
    text === undefined ? 0 : /^[0-9]{1,15}$/.test(text) ? Number(text) : undefined;
  const start = number(offset);
  const count = length === undefined ? size - (start ?? 0) : number(length);
  if (start === undefined || count === undefined)
    return 'has an offset or length that is not a number';
  if (start + count > size) return `reads past the end of its file (${size} bytes)`;
  return undefined;
}

/**
 * Checks `model` (the verified bytes of `model.onnx`) for external data against the policy and
 * returns the files ONNX Runtime must get in memory (empty for a self-contained model).
 *
 * @throws ModelContentError `external-data` when a tensor stores data outside the model and
 *   `allow` is false, or when a location is not a plain relative path naming one of `files`;
 *   `model-malformed` when the bytes are not a well-formed ONNX protobuf.
 */
export function resolveExternalData(
  model: Uint8Array,
  files: ReadonlyMap<string, Buffer>,
  allow: boolean,
): ExternalDataFile[] {
  let references;
  try {
    references = findExternalData(model);
  } catch (error) {
    if (!(error instanceof OnnxParseError)) throw error;
    throw new ModelContentError('model-malformed', `model.onnx: ${error.message}`, {
      cause: error,
    });
  }
  if (references.length === 0) return [];
  const first = references[0];
  if (!allow && first !== undefined) {
    const location = first.locations[0];
    throw new ModelContentError(
      'external-data',
      `model.onnx: ${first.where} stores its data outside the model${location === undefined ? '' : ` (in ${JSON.stringify(location.slice(0, 80))})`}` +
        `${references.length > 1 ? ` (and ${references.length - 1} more)` : ''}; ` +
        'external data is refused unless the model sets allowExternalData: true in its config.yaml',
    );
  }
  const needed = new Map<string, ExternalDataFile>();
  for (const reference of references) {
    const problem =
      reference.locations.length !== 1
        ? reference.locations.length === 0
          ? 'has no location'
          : 'has more than one location'
        : checkLocation(reference.locations[0] ?? '', files);
    const location = reference.locations[0] ?? '';
    const bytes = files.get(location);
    const range = problem ?? checkRange(reference.offset, reference.length, bytes?.byteLength ?? 0);
    if (range !== undefined || bytes === undefined) {
      throw new ModelContentError(
        'external-data',
        `model.onnx: the external data of ${reference.where} ${range ?? 'is missing'}`,
      );
    }
    needed.set(location, { path: location, data: bytes });
  }
  return [...needed.values()];
}
