/**
 * The v2 infer request as it arrives, before any model-specific check: the zod envelope every
 * request body must fit (bounded sizes, names and ranks), and its types. `input-schema.ts` binds
 * it to one model's signature.
 */
import { z } from 'zod';

/** Largest rank a request may declare. */
export const maxRank = 16;

const parameterValue = z.union([z.string().max(4096), z.number(), z.boolean()]);
const parameters = z.record(z.string().min(1).max(128), parameterValue).optional();

/** The v2 infer request envelope, before any model-specific check. */
export const inferRequestEnvelope = z.strictObject({
  id: z.string().max(256).optional(),
  parameters,
  inputs: z
    .array(
      z
        .strictObject({
          name: z.string().min(1).max(256),
          shape: z
            .array(
              z
                .number()
                .int()
                .min(0)
                .max(2 ** 31),
            )
            .max(maxRank),
          datatype: z.string().min(1).max(16),
          parameters,
          data: z.unknown().optional(),
        })
        // `data` is required unless the input's bytes come from the binary tensor extension.
        .superRefine((input, ctx) => {
          if (input.data === undefined && input.parameters?.['binary_data_size'] === undefined) {
            ctx.addIssue({ code: 'custom', path: ['data'], message: 'is required' });
          }
        }),
    )
    .min(1)
    .max(256),
  outputs: z
    .array(z.strictObject({ name: z.string().min(1).max(256), parameters }))
    .max(256)
    .optional(),
});

/** A request that fits the envelope. */
export type Envelope = z.output<typeof inferRequestEnvelope>;

/** One input of an {@link Envelope}. */
export type EnvelopeInput = Envelope['inputs'][number];

/** The `parameters` of a request, an input or an output. */
export type ParameterMap = z.output<typeof parameters>;
