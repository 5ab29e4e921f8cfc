import type { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';

/**
 * Four values of every v2 datatype, including each type's extremes (INT64/UINT64 beyond 2^53 as
 * decimal strings), shared by the JSON and binary round-trip tests.
 */
export const datatypeRoundTrips: {
  datatype: string;
  type: Parameters<typeof buildIdentityModel>[0];
  data: unknown[];
}[] = [
  { datatype: 'BOOL', type: 'bool', data: [true, false, true, true] },
  { datatype: 'UINT8', type: 'uint8', data: [0, 1, 254, 255] },
  { datatype: 'UINT16', type: 'uint16', data: [0, 1, 65534, 65535] },
  { datatype: 'UINT32', type: 'uint32', data: [0, 1, 4294967294, 4294967295] },
  {
    datatype: 'UINT64',
    type: 'uint64',
    data: [0, 9007199254740991, '9007199254740992', '18446744073709551615'],
  },
  { datatype: 'INT8', type: 'int8', data: [-128, -1, 0, 127] },
  { datatype: 'INT16', type: 'int16', data: [-32768, -1, 0, 32767] },
  { datatype: 'INT32', type: 'int32', data: [-2147483648, -1, 0, 2147483647] },
  {
    datatype: 'INT64',
    type: 'int64',
    data: ['-9223372036854775808', -9007199254740991, 0, '9223372036854775807'],
  },
  { datatype: 'FP16', type: 'float16', data: [0, -1.5, 65504, 0.333251953125] },
  {
    datatype: 'FP32',
    type: 'float32',
    data: [0, -1.5, 3.4028234663852886e38, 1.401298464324817e-45],
  },
  { datatype: 'FP64', type: 'float64', data: [0, -1.5, Number.MAX_VALUE, Number.MIN_VALUE] },
  { datatype: 'BYTES', type: 'string', data: ['', 'hello', 'üñï©ødé', 'a"b\\c'] },
];
