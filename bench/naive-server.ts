/**
 * Baseline (b): what a user would write instead of Bastion. Fastify with its default JSON parser,
 * one ONNX Runtime session per model run inline on the event loop, no auth, no validation beyond
 * what a crash would catch, no audit, no metrics, no logging. Serves every `<name>.onnx` in a
 * folder at `POST /v2/models/<name>/infer` with the v2 JSON body, so the same load hits it and
 * Bastion. Sessions get the same options as Bastion's workers, so the comparison measures the
 * gateway, not ONNX Runtime's thread settings.
 */
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import compress from '@fastify/compress';
import fastifyHelmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import ort from 'onnxruntime-node';
import { computeSecurityHeaders, securityHeaderOptions } from '../src/http/security-headers.js';

interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

// Decoding and encoding are named functions only so that the bench's CPU profile can tell them
// apart (bench/stages.ts); the work is what an inline handler would do.
function feedsOf(inputs: readonly V2Input[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const data = Float32Array.from(input.data.flat(Infinity) as number[]);
    feeds[input.name] = new ort.Tensor('float32', data, input.shape);
  }
  return feeds;
}

function outputsOf(results: ort.InferenceSession.OnnxValueMapType) {
  return Object.entries(results).map(([name, tensor]) => ({
    name,
    datatype: tensor.type === 'int64' ? 'INT64' : 'FP32',
    shape: tensor.dims,
    // int64 outputs (iris's label) come as BigInt64Array, which JSON cannot hold.
    data:
      tensor.data instanceof BigInt64Array
        ? Array.from(tensor.data, Number)
        : Array.from(tensor.data as Float32Array),
  }));
}

/**
 * The edge every Bastion request crosses before any security work of its own, as Bastion
 * configures it: helmet's headers computed once and copied onto each reply (@fastify/helmet
 * registered, not global), a request id, @fastify/rate-limit in memory on `onRequest`, and
 * @fastify/compress with Bastion's 1 KiB threshold. CORS is left out: Bastion registers it only
 * when `server.cors.origins` is set, and the bench does not set it. No auth, validation, audit,
 * metrics or logging: what this adds to the naive server is the floor of the stack Bastion is
 * built on (the "floor" server, f in the bench).
 */
async function registerEdge(app: FastifyInstance): Promise<void> {
  const options = securityHeaderOptions(false);
  const headers = computeSecurityHeaders(options);
  await app.register(fastifyHelmet, { ...options, global: false });
  app.addHook('onRequest', (request, reply, done) => {
    void reply.headers(headers);
    const id = request.headers['x-request-id'];
    void reply.header('x-request-id', typeof id === 'string' ? id : randomUUID());
    done();
  });
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: 60_000,
    max: 1_000_000_000,
    keyGenerator: (request) => `ip:${request.ip}`,
  });
  await app.register(compress, { global: true, threshold: 1024 });
}

/**
 * Starts the naive server on an ephemeral loopback port; with `edge`, behind the plugins Bastion
 * registers for every request ({@link registerEdge}).
 */
export async function startNaiveServer(
  folder: string,
  edge = false,
): Promise<{ app: FastifyInstance; port: number }> {
  const sessions = new Map<string, ort.InferenceSession>();
  for (const file of await readdir(folder)) {
    if (!file.endsWith('.onnx')) continue;
    const session = await ort.InferenceSession.create(join(folder, file), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    sessions.set(basename(file, '.onnx'), session);
  }

  const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  if (edge) await registerEdge(app);
  app.get('/v2/health/live', (_request, reply) => reply.code(200).send());
  app.post<{ Params: { model: string }; Body: { inputs: V2Input[] } }>(
    '/v2/models/:model/infer',
    async (request, reply) => {
      const session = sessions.get(request.params.model);
      if (session === undefined) return reply.code(404).send({ error: 'no such model' });
      const results = await session.run(feedsOf(request.body.inputs));
      return { model_name: request.params.model, model_version: '1', outputs: outputsOf(results) };
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address !== null ? address.port : 0 };
}
