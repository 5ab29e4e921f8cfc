/**
 * Reads training rows for `bastion policy fit`: CSV (numbers separated by commas; a header line
 * and non-numeric columns can be skipped) or NumPy `.npy` (a 2-D C-order array of float32,
 * float64, int32 or int64, little-endian).
 */

/** Options of {@link parseCsvRows}. */
export interface CsvOptions {
  /** Zero-based columns to keep (default: every column). */
  readonly columns?: readonly number[];
}

/**
 * Parses CSV text into numeric rows. The first line is skipped when it is not numeric (a header).
 *
 * @throws RangeError naming the line of a value that is not a number, or of a ragged row.
 */
export function parseCsvRows(text: string, options: CsvOptions = {}): number[][] {
  const rows: number[][] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const cells = line.split(',').map((c) => c.trim());
    const picked =
      options.columns === undefined ? cells : options.columns.map((c) => cells[c] ?? '');
    const values = picked.map(Number);
    if (values.some((v, j) => picked[j] === '' || !Number.isFinite(v))) {
      if (rows.length === 0 && i === 0) continue; // a header
      throw new RangeError(`line ${i + 1}: not a row of finite numbers`);
    }
    if (rows.length > 0 && values.length !== rows[0]?.length) {
      throw new RangeError(
        `line ${i + 1}: ${values.length} values, expected ${rows[0]?.length ?? 0}`,
      );
    }
    rows.push(values);
  }
  return rows;
}

const npyMagic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/**
 * Parses a `.npy` file holding a 2-D array into rows.
 *
 * @throws RangeError when it is not a supported `.npy` array.
 */
export function parseNpyRows(bytes: Buffer): number[][] {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(npyMagic)) {
    throw new RangeError('not a .npy file (bad magic)');
  }
  const major = bytes[6] ?? 0;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([<|=]?)([fi])(\d)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\((\d+),\s*(\d+)\s*,?\)/.exec(header);
  if (descr === null || shape === null || fortran !== 'False') {
    throw new RangeError('.npy: need a 2-D C-order array of <f4, <f8, <i4 or <i8');
  }
  const [, , kind, size] = descr;
  const m = Number(shape[1]);
  const n = Number(shape[2]);
  const width = Number(size);
  const data = bytes.subarray(start + headerLength);
  if (data.length < m * n * width) throw new RangeError('.npy: the data is shorter than its shape');
  const read = (offset: number): number => {
    if (kind === 'f' && width === 4) return data.readFloatLE(offset);
    if (kind === 'f' && width === 8) return data.readDoubleLE(offset);
    if (kind === 'i' && width === 4) return data.readInt32LE(offset);
    if (kind === 'i' && width === 8) return Number(data.readBigInt64LE(offset));
    throw new RangeError(`.npy: unsupported element type ${kind ?? ''}${size ?? ''}`);
  };
  return Array.from({ length: m }, (_, r) =>
    Array.from({ length: n }, (_, c) => read((r * n + c) * width)),
  );
}
