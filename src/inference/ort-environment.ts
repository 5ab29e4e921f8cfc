/**
 * Environment ONNX Runtime reads when its native library starts, set before the binding loads:
 * imported for its side effect ahead of `onnxruntime-node` (ESM evaluates imports in order) by
 * {@link ./ort-session.ts}, and set again first thing by `bin/bastion.js`. Worker threads share
 * the process environment, so the main thread's values hold for every model worker.
 *
 * - `ORT_DISABLE_TELEMETRY=1`: onnxruntime-node 1.30 otherwise starts its telemetry system, which
 *   writes `~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db` and
 *   `$TMPDIR/mat-debug-<pid>.log` (and has an upload endpoint compiled in).
 * - `ORT_LOAD_CONFIG_FROM_MODEL=0`: with `1`, ONNX Runtime takes session options from the model's
 *   own `ort_config` metadata (profiling included), i.e. from the model author, not the operator.
 *
 * - `ORT_ENABLE_PROFILING=0`: later ONNX Runtime releases read it (`1` forces profiling, which
 *   writes a JSON trace into the working directory); `0` leaves it to the session options, where
 *   Bastion always sets `enableProfiling: false`. 1.30 does not read it.
 *
 * All are forced whatever the inherited environment says.
 */
export const ortEnvironment: Readonly<Record<string, string>> = {
  ORT_DISABLE_TELEMETRY: '1',
  ORT_LOAD_CONFIG_FROM_MODEL: '0',
  ORT_ENABLE_PROFILING: '0',
};

for (const [name, value] of Object.entries(ortEnvironment)) process.env[name] = value;
