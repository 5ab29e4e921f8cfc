import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defaultAlgorithms, jwsAlgorithms } from './jws-algorithms.js';

/** Model names per CONTRACT "Model repository". */
export const modelNamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const MiB = 1024 * 1024;

/** Engine and batching settings that a model's `config.yaml` may override. */
export function createModelTuningSchema() {
  return z.strictObject({
    /**
     * Worker threads holding a session of this model; 0 runs inline on the event loop; `auto`
     * (the default) measures the model at load and runs it inline only when it is tiny.
     */
    poolSize: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).optional(),
    intraOpThreads: z.number().int().min(0).max(256).optional(),
    interOpThreads: z.number().int().min(0).max(256).optional(),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).optional(),
    executionProviders: z
      .array(z.enum(['cuda', 'cpu']))
      .min(1)
      .max(2)
      .optional(),
    /** Requests waiting for this model before new ones get 503. */
    maxQueue: z.number().int().min(1).max(100_000).optional(),
    /** Deadline of one inference request, queue wait included (504 after it). */
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
    /** Largest element count of one request (all inputs together). */
    maxElements: z.number().int().min(1).max(1_000_000_000).optional(),
    /** 0 turns dynamic batching off. */
    maxBatchSize: z.number().int().min(0).max(4096).optional(),
    maxQueueDelayMs: z.number().min(0).max(1000).optional(),
    preferredBatchSizes: z.array(z.number().int().min(1).max(4096)).max(16).optional(),
    /** Requests per minute per subject for this model, overriding limits.requestsPerMinute. */
    requestsPerMinute: z.number().int().min(1).max(10_000_000).optional(),
    /**
     * Serve models whose tensors keep their data in other files of the version folder (ONNX
     * external data). Off: such a version is refused (`external-data`).
     */
    allowExternalData: z.boolean().optional(),
  });
}

/** A model's `config.yaml` (or `models.defaults`) as parsed: every key optional. */
export type ModelTuningOverrides = z.output<ReturnType<typeof createModelTuningSchema>>;

type ReadonlyValue<T> = T extends readonly (infer E)[] ? readonly E[] : T;

/**
 * Settings of one model, after defaults and its own config.yaml are merged: derived from
 * {@link createModelTuningSchema}, every key set except `requestsPerMinute` (set only where a
 * model overrides `limits.requestsPerMinute`).
 */
export type ModelTuning = {
  readonly [K in Exclude<keyof ModelTuningOverrides, 'requestsPerMinute'>]-?: ReadonlyValue<
    Exclude<ModelTuningOverrides[K], undefined>
  >;
} & Readonly<Pick<ModelTuningOverrides, 'requestsPerMinute'>>;

/**
 * Builds the configuration schema. Paths are resolved against `baseDir` (the config file's
 * folder) as they are parsed.
 */
export function createConfigSchema(baseDir: string) {
  const path = pathSchema(baseDir);
  return z.strictObject({
    /** `production` tightens every default; NODE_ENV=production forces it. */
    mode: z.enum(['development', 'production']).default('development'),
    /** Git-ignored folder for local state (dev issuer keys). */
    stateDir: path.default(resolve(baseDir, '../var')),
    server: serverSection(path),
    auth: authSection(path),
    models: modelsSection(path, baseDir),
    audit: auditSection(path, baseDir),
    metrics: metricsSection(path),
    limits: limitsSection(),
    logging: loggingSection(),
  });
}

/** A file path in the configuration, resolved against the config file's folder. */
function pathSchema(baseDir: string) {
  return z
    .string()
    .min(1)
    .max(4096)
    .transform((p) => (isAbsolute(p) ? p : resolve(baseDir, p)));
}

type PathSchema = ReturnType<typeof pathSchema>;

/** PEM files, each optionally limited to model-name patterns (glob `*`). */
function trustAnchorsSchema(path: PathSchema) {
  return z
    .array(
      z.union([
        path,
        z.strictObject({
          file: path,
          models: z.array(z.string().min(1).max(128)).min(1).max(1024).optional(),
        }),
      ]),
    )
    .max(256)
    .default([]);
}

/** Listener, timeouts, connection caps, CORS and TLS (`server.*`). */
function serverSection(path: PathSchema) {
  return z
    .strictObject({
      host: z.string().min(1).max(255).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8080),
      /** Trust X-Forwarded-* only from these proxies (false: never). */
      trustProxy: z.union([z.boolean(), z.array(z.string().min(1)).max(64)]).default(false),
      requestTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
      headersTimeoutMs: z.number().int().min(1000).max(600_000).default(15_000),
      keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      maxConnections: z.number().int().min(1).max(1_000_000).default(4096),
      /** Open connections one client address may hold (behind a proxy: the proxy's). */
      maxConnectionsPerIp: z.number().int().min(1).max(1_000_000).default(256),
      /** Bound on graceful shutdown: in-flight requests get this long to finish. */
      shutdownTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
      /** At SIGTERM: readiness answers 503 at once, the listeners keep serving this long, then close. */
      drainDelayMs: z.number().int().min(0).max(300_000).default(0),
      cors: z
        .strictObject({ origins: z.array(z.url().max(2048)).max(64).default([]) })
        .prefault({}),
      tls: z
        .strictObject({
          certFile: path,
          keyFile: path,
          clientCaFile: path.optional(),
          requireClientCert: z.boolean().default(false),
          /** When set, a client certificate's subject CN must be one of these. */
          allowedClientSubjects: z.array(z.string().min(1).max(256)).max(1024).optional(),
        })
        .optional(),
    })
    .prefault({});
}

/** Token verification (`auth.*`): issuer, audience, algorithms, keys and the verified-token cache. */
function authSection(path: PathSchema) {
  return z
    .strictObject({
      /** Use the local development issuer (dev mode only). */
      devIssuer: z.boolean().default(false),
      issuer: z.string().min(1).max(2048).optional(),
      audience: z.string().min(1).max(2048).optional(),
      algorithms: z
        .array(z.enum(jwsAlgorithms))
        .min(1)
        .max(jwsAlgorithms.length)
        .default([...defaultAlgorithms]),
      jwksFile: path.optional(),
      jwksUrl: z.url().max(2048).optional(),
      /** File holding the HS* shared secret (only with HS* algorithms). */
      hsSecretFile: path.optional(),
      clockToleranceSec: z.number().int().min(0).max(300).default(30),
      /** Refuse tokens living longer than this (exp − iat, or exp − now without iat). */
      maxTokenLifetimeSec: z.number().int().min(1).max(31_536_000).optional(),
      maxTokenBytes: z.number().int().min(256).max(65_536).default(8192),
      jwksTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
      jwksCacheMaxAgeSec: z.number().int().min(1).max(86_400).default(600),
      cache: z
        .strictObject({
          maxEntries: z.number().int().min(0).max(1_000_000).default(10_000),
          ttlSec: z.number().int().min(1).max(86_400).default(300),
        })
        .prefault({}),
    })
    .prefault({});
}

/** The model repository and what it trusts (`models.*`): keys, roots, keyless identities. */
function modelsSection(path: PathSchema, baseDir: string) {
  const tuning = createModelTuningSchema();
  const trustAnchors = trustAnchorsSchema(path);
  return z
    .strictObject({
      repository: path.default(resolve(baseDir, '../models')),
      /** PEM public keys; a key may be limited to model-name patterns (glob `*`). */
      trustedKeys: trustAnchors,
      /** PEM CA certificates for certificate-mode signatures. */
      trustedRoots: trustAnchors,
      /** Keyless (Sigstore) signers: certificate SAN and OIDC issuer, exact; optional models. */
      trustedIdentities: z
        .array(
          z.strictObject({
            identity: z.string().min(1).max(1024),
            issuer: z.string().min(1).max(2048).optional(),
            models: z.array(z.string().min(1).max(128)).min(1).max(1024).optional(),
          }),
        )
        .max(256)
        .default([]),
      /** A Sigstore trusted_root.json (private instances); default: the shipped public-good one. */
      sigstoreTrustedRoot: path.optional(),
      /** Serve models that have no signature. Refused in production. */
      allowUnsigned: z.boolean().default(false),
      /** Extra paths inside a version folder that signatures do not cover. */
      ignorePaths: z.array(z.string().min(1).max(1024)).max(256).default([]),
      /** Scan the repository for new versions this often (0: never). */
      pollIntervalSec: z.number().int().min(0).max(86_400).default(0),
      /** AES-256-GCM key for model.onnx.enc: a file, or the name of an environment variable. */
      encryptionKeyFile: path.optional(),
      encryptionKeyEnv: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]{0,127}$/)
        .optional(),
      /** Defaults for every model; each model's config.yaml may override them. */
      defaults: tuning.prefault({}),
    })
    .prefault({});
}

/** The tamper-evident audit log (`audit.*`). */
function auditSection(path: PathSchema, baseDir: string) {
  return z
    .strictObject({
      enabled: z.boolean().default(true),
      path: path.default(resolve(baseDir, '../var/audit/audit.log')),
      hmacKeyFile: path.optional(),
      /** `always`: fsync before each response; a number: group commit every N ms. */
      fsync: z.union([z.literal('always'), z.number().int().min(1).max(10_000)]).default('always'),
      maxBytes: z
        .number()
        .int()
        .min(4096)
        .max(64 * 1024 * MiB)
        .default(256 * MiB),
      /** Refuse to answer when the audit record cannot be written. */
      failClosed: z.boolean().optional(),
      /** Start a new chain segment when the existing log's tail is broken. */
      acceptBrokenTail: z.boolean().default(false),
      /** The head checkpoint, kept apart from the log; default under `<stateDir>/audit-checkpoints/`. */
      checkpointFile: path.optional(),
      /** Log the keyed audit head (the external witness) this often; 0: never. */
      witnessIntervalSec: z.number().int().min(0).max(86_400).default(60),
    })
    .prefault({});
}

/** The Prometheus listener (`metrics.*`). */
function metricsSection(path: PathSchema) {
  return z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).max(255).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(9464),
      bearerTokenFile: path.optional(),
    })
    .prefault({});
}

/** Body sizes, output size and rate limits (`limits.*`). */
function limitsSection() {
  return z
    .strictObject({
      bodyBytes: z
        .number()
        .int()
        .min(1024)
        .max(2048 * MiB)
        .default(16 * MiB),
      /** Largest JSON body (or binary request's JSON header), decoded; over 64 KiB, parsed on a worker. */
      jsonBodyBytes: z
        .number()
        .int()
        .min(1024)
        .max(2048 * MiB)
        .default(2 * MiB),
      /** Largest element count of the outputs one response carries as JSON. */
      maxJsonOutputElements: z.number().int().min(1).max(1_000_000_000).default(131_072),
      requestsPerMinute: z.number().int().min(1).max(10_000_000).default(600),
      /** Per-IP limit for requests that carry no valid token. */
      unauthenticatedPerMinute: z.number().int().min(1).max(10_000_000).default(60),
      redisUrl: z.url().max(2048).optional(),
    })
    .prefault({});
}

/** The application log (`logging.*`). */
function loggingSection() {
  return z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({});
}

/** The validated configuration, as parsed (paths absolute). */
export type Config = z.output<ReturnType<typeof createConfigSchema>>;
