#!/usr/bin/env node
// Removes the ONNX Runtime binaries of every platform but this one from an installed
// onnxruntime-node (the npm package ships darwin, linux and win32 builds, ~245 MB of them foreign
// to a Linux image). onnxruntime-node loads bin/napi-v<N>/<platform>/<arch>/onnxruntime_binding.node,
// so keeping exactly that folder keeps it working. Used by the Dockerfile; safe to run twice.
//
//   node deploy/docker/prune-onnxruntime.mjs [node_modules/onnxruntime-node] [--platform P --arch A]
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    platform: { type: 'string', default: process.platform },
    arch: { type: 'string', default: process.arch },
  },
});
const pkg = positionals[0] ?? 'node_modules/onnxruntime-node';
const bin = join(pkg, 'bin');
if (!existsSync(bin)) {
  console.error(`prune-onnxruntime: ${bin} not found`);
  process.exit(2);
}

const dirs = (path) => readdirSync(path).filter((name) => statSync(join(path, name)).isDirectory());
const removed = [];
let kept = 0;
for (const napi of dirs(bin)) {
  for (const platform of dirs(join(bin, napi))) {
    for (const arch of dirs(join(bin, napi, platform))) {
      if (platform === values.platform && arch === values.arch) {
        if (existsSync(join(bin, napi, platform, arch, 'onnxruntime_binding.node'))) kept += 1;
        continue;
      }
      rmSync(join(bin, napi, platform, arch), { recursive: true, force: true });
      removed.push(`${napi}/${platform}/${arch}`);
    }
    if (dirs(join(bin, napi, platform)).length === 0) {
      rmSync(join(bin, napi, platform), { recursive: true, force: true });
    }
  }
}
if (kept === 0) {
  console.error(
    `prune-onnxruntime: no binding for ${values.platform}/${values.arch} under ${bin}; nothing kept`,
  );
  process.exit(1);
}
console.log(
  `prune-onnxruntime: kept ${values.platform}/${values.arch}; removed ${removed.length === 0 ? 'nothing' : removed.join(', ')}`,
);
