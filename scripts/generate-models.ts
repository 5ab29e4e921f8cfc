/**
 * Writes Bastion's demo models into a model repository folder:
 *
 *     node --import tsx scripts/generate-models.ts [--out DIR]     (default: models/)
 *
 * Output is deterministic — running it twice gives byte-identical files — so the committed models
 * can be regenerated and diffed. Only `<model>/<version>/model.onnx` files (and iris's signed
 * `policy.yaml` and `labels.txt`) are written; config and signatures are produced by other tools. See models/README.md for what each model does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { buildIrisModel, IRIS_CLASSES, trainIrisClassifier } from './demo-models/iris-model.js';
import { buildIrisPolicy } from './demo-models/iris-policy.js';
import { buildDemoMlpModel } from './demo-models/mlp-model.js';
import { buildTensorTypesModel } from './demo-models/tensor-types-model.js';

/** One model file written by {@link generateDemoModels}. */
export interface GeneratedModel {
  readonly name: string;
  readonly version: number;
  /** Absolute path of the written `model.onnx`. */
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
}

/** What {@link generateDemoModels} wrote. */
export interface GeneratedDemoModels {
  readonly models: readonly GeneratedModel[];
  /** Training accuracy of the iris classifier on all 150 rows (0..1). */
  readonly irisTrainingAccuracy: number;
}

/**
 * Builds the demo models (`iris`, `mlp`, `tensor-types`, each version 1) and writes them under
 * `outDir` as `<name>/1/model.onnx`, creating folders as needed and overwriting existing files.
 *
 * @throws Error if the iris classifier trains below 95% accuracy, or on any file system error.
 */
export async function generateDemoModels(outDir: string): Promise<GeneratedDemoModels> {
  const iris = trainIrisClassifier();
  if (iris.trainingAccuracy < 0.95) {
    throw new Error(`iris training accuracy ${iris.trainingAccuracy} is below 0.95`);
  }
  const builds: readonly (readonly [string, Uint8Array])[] = [
    ['iris', buildIrisModel(iris)],
    ['mlp', buildDemoMlpModel()],
    ['tensor-types', buildTensorTypesModel()],
  ];
  const models: GeneratedModel[] = [];
  for (const [name, bytes] of builds) {
    const dir = join(resolve(outDir), name, '1');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'model.onnx');
    await writeFile(path, bytes);
    models.push({ name, version: 1, path, size: bytes.length });
  }
  await writeFile(join(resolve(outDir), 'iris', '1', 'policy.yaml'), buildIrisPolicy());
  // Class names for Triton's classification extension ("<score>:<index>:<label>").
  await writeFile(join(resolve(outDir), 'iris', '1', 'labels.txt'), `${IRIS_CLASSES.join('\n')}\n`);
  return { models, irisTrainingAccuracy: iris.trainingAccuracy };
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { out: { type: 'string', default: 'models' } },
    strict: true,
  });
  const result = await generateDemoModels(values.out);
  console.log(`iris training accuracy: ${(result.irisTrainingAccuracy * 100).toFixed(2)}%`);
  for (const model of result.models) console.log(`wrote ${model.path} (${model.size} bytes)`);
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
