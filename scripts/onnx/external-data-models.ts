/**
 * Models whose weights live outside the model bytes (ONNX *external data*), for the tests of
 * Bastion's external-data policy. Built with {@link createGraph}, then the initializer is rewritten
 * the way the reference `onnx.external_data_helper` writes it: no `raw_data`, `data_location:
 * EXTERNAL` and `external_data` entries `location` / `offset` / `length`.
 */
import { createGraph } from './graph-builder.js';
import { encodeModel, type TensorSpec } from './onnx-proto.js';

/** Options for {@link buildExternalAddModel}. */
export interface ExternalAddOptions {
  /** The `location` written into the model, verbatim (may be hostile: `../x`, `/etc/passwd`). */
  readonly location: string;
  /** Element count of `x`, `w` and `y` (float32). Default 4. */
  readonly size?: number;
  /** `offset` / `length` entries (bytes), written when given. */
  readonly offset?: number;
  readonly length?: number;
}

/** Little-endian float32 bytes of `values`, as an external-data file holds them. */
export function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/**
 * `y = x + w` over float32 `[size]`, where the initializer `w` is stored externally at
 * `options.location`: whatever bytes ONNX Runtime finds for `w` come back added to `x`.
 */
export function buildExternalAddModel(options: ExternalAddOptions): Uint8Array {
  const size = options.size ?? 4;
  const spec = createGraph('external_add')
    .input('x', 'float32', [size])
    .initializer('w', 'float32', [size], new Array<number>(size).fill(0))
    .node('Add', ['x', 'w'], ['y'])
    .output('y', 'float32', [size])
    .toSpec();
  const entries: (readonly [string, string])[] = [['location', options.location]];
  if (options.offset !== undefined) entries.push(['offset', String(options.offset)]);
  if (options.length !== undefined) entries.push(['length', String(options.length)]);
  const external: TensorSpec = {
    name: 'w',
    elemType: 'float32',
    dims: [size],
    externalData: entries,
    dataLocation: 1,
  };
  return encodeModel({ ...spec, graph: { ...spec.graph, initializers: [external] } });
}
