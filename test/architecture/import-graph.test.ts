/**
 * One direction of dependency between the folders of `src/` (README, "How a request flows").
 * Every import specifier of every source file is read with the TypeScript parser; each relative
 * import is an edge between two layers, and the edge must be in {@link allowedImports}. The table
 * is acyclic, and so is the graph the code actually draws, so a new cycle or a new upward edge
 * fails here, naming the file and the import.
 */
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { type SourceFile, sourceFiles } from './source-files.js';

/** The layers: one per folder of `src/`, and two for the files at its top. */
type Layer =
  | 'kernel'
  | 'config'
  | 'audit'
  | 'auth'
  | 'metrics'
  | 'models'
  | 'inference'
  | 'policy'
  | 'serving'
  | 'doctor'
  | 'http'
  | 'gateway'
  | 'cli';

/** The files at the top of `src/`: shared leaves (`kernel`) and the composition root. */
const rootFiles: Readonly<Record<string, Layer>> = {
  'errors.ts': 'kernel',
  'fs-files.ts': 'kernel',
  'logger.ts': 'kernel',
  'version.ts': 'kernel',
  'zod-issues.ts': 'kernel',
  'app.ts': 'gateway',
  'server.ts': 'gateway',
  'server-boot.ts': 'gateway',
  'server-lifecycle.ts': 'gateway',
  'server-parts.ts': 'gateway',
  'server-reload.ts': 'gateway',
};

/** An import a layer may make: another layer, or (`:types`) only `import type` from it. */
type Allowed = Layer | `${Layer}:types`;

/**
 * Who may import whom, bottom to top. A layer imports itself freely. `models` owns the registry
 * and its ports (`version-preparer.ts`); `serving` composes the registry, the engines and the
 * policies; the engines take one data type from `models` (the verified external-data file).
 */
const allowedImports: Readonly<Record<Layer, readonly Allowed[]>> = {
  kernel: [],
  config: ['kernel'],
  audit: ['kernel', 'config'],
  auth: ['kernel', 'config'],
  metrics: ['kernel', 'config'],
  models: ['kernel', 'config'],
  inference: ['kernel', 'config', 'models:types'],
  policy: ['kernel', 'config', 'inference'],
  serving: ['kernel', 'config', 'audit', 'metrics', 'models', 'inference', 'policy'],
  doctor: ['kernel', 'config', 'models'],
  http: [
    'kernel',
    'config',
    'audit',
    'auth',
    'metrics',
    'models',
    'inference',
    'policy',
    'serving',
  ],
  gateway: [
    'kernel',
    'config',
    'audit',
    'auth',
    'metrics',
    'models',
    'inference',
    'policy',
    'serving',
    'doctor',
    'http',
  ],
  cli: [
    'kernel',
    'config',
    'audit',
    'auth',
    'models',
    'policy',
    'doctor',
    // `bastion serve` starts the gateway.
    'gateway',
  ],
};

/** Packages only some layers may import (STYLE.md: only the HTTP adapters know Fastify). */
const packageOwners: readonly { readonly prefix: string; readonly layers: readonly Layer[] }[] = [
  { prefix: 'fastify', layers: ['http', 'gateway'] },
  { prefix: '@fastify/', layers: ['http', 'gateway'] },
  { prefix: 'onnxruntime-node', layers: ['inference'] },
];

/** One import (or re-export) of a source file. */
interface ImportRef {
  readonly file: string;
  readonly specifier: string;
  /** True for `import type` and `export type`, which load nothing at run time. */
  readonly typeOnly: boolean;
}

function importsOf(file: SourceFile): ImportRef[] {
  const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
  const refs: ImportRef[] = [];
  const add = (node: ts.Expression | undefined, typeOnly: boolean): void => {
    if (node !== undefined && ts.isStringLiteralLike(node)) {
      refs.push({ file: file.path, specifier: node.text, typeOnly });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      // `import { type A }` still loads the module (verbatimModuleSyntax); `import type` does not.
      const allTypes = node.importClause?.phaseModifier === ts.SyntaxKind.TypeKeyword;
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/** The layer of a path under `src/`, or undefined when the table does not place it. */
function layerOf(path: string): Layer | undefined {
  const [, first, ...rest] = path.split('/');
  if (first === undefined) return undefined;
  if (rest.length === 0) return rootFiles[first];
  return first in allowedImports ? (first as Layer) : undefined;
}

/** The source file a relative specifier of `file` names (`./x.js` is `./x.ts`), from the root. */
function targetOf(file: string, specifier: string): string {
  return posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
}

function allowed(from: Layer, to: Layer, typeOnly: boolean): boolean {
  if (from === to) return true;
  const rules = allowedImports[from];
  return rules.includes(to) || (typeOnly && rules.includes(`${to}:types`));
}

/** A cycle in `edges` as a list of nodes (first = last), or undefined when there is none. */
function findCycle(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle !== undefined) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

void describe('import graph', () => {
  const files = sourceFiles();
  const refs = files.flatMap(importsOf);
  const relative = refs.filter((r) => r.specifier.startsWith('.'));
  const paths = new Set(files.map((f) => f.path));

  void it('reads the imports of every source file', () => {
    assert.ok(files.length > 100, `only ${files.length} files found under src/`);
    assert.ok(relative.length > 300, `only ${relative.length} relative imports found`);
    assert.ok(relative.some((r) => r.typeOnly) && relative.some((r) => !r.typeOnly));
  });

  void it('places every source file in a layer', () => {
    const unplaced = files.map((f) => f.path).filter((p) => layerOf(p) === undefined);
    assert.deepEqual(
      unplaced,
      [],
      `add these to the layer table of test/architecture/import-graph.test.ts:\n${unplaced.join('\n')}`,
    );
  });

  void it('every import between folders goes down the allowed-imports table', () => {
    const wrong: string[] = [];
    for (const ref of relative) {
      const target = targetOf(ref.file, ref.specifier);
      const from = layerOf(ref.file);
      const to = layerOf(target);
      if (from === undefined) continue;
      if (!paths.has(target) || to === undefined) {
        wrong.push(`${ref.file} imports '${ref.specifier}', which is no source file of a layer`);
      } else if (!allowed(from, to, ref.typeOnly)) {
        const may = allowedImports[from].join(', ') || 'nothing';
        wrong.push(
          `${ref.file} imports '${ref.specifier}' (${from} -> ${to}${ref.typeOnly ? ', types' : ''}); ${from} may import: ${may}`,
        );
      }
    }
    assert.deepEqual(wrong, [], wrong.join('\n'));
  });

  void it('packages with an owner are imported by their owners only', () => {
    const wrong: string[] = [];
    for (const ref of refs) {
      const from = layerOf(ref.file);
      const owner = packageOwners.find((p) => ref.specifier.startsWith(p.prefix));
      if (from !== undefined && owner !== undefined && !owner.layers.includes(from)) {
        wrong.push(`${ref.file} imports '${ref.specifier}'; only ${owner.layers.join(', ')} may`);
      }
    }
    assert.deepEqual(wrong, [], wrong.join('\n'));
  });

  void it('the folder graph the code draws has no cycle', () => {
    const edges = new Map<string, Set<string>>();
    const example = new Map<string, string>();
    for (const ref of relative) {
      const from = layerOf(ref.file);
      const to = layerOf(targetOf(ref.file, ref.specifier));
      if (from === undefined || to === undefined || from === to) continue;
      edges.set(from, (edges.get(from) ?? new Set()).add(to));
      if (!example.has(`${from}>${to}`)) {
        example.set(`${from}>${to}`, `${ref.file} imports '${ref.specifier}'`);
      }
    }
    const cycle = findCycle(edges);
    const via = (cycle ?? [])
      .slice(1)
      .map(
        (to, i) =>
          `  ${cycle?.[i] ?? ''} -> ${to}: ${example.get(`${cycle?.[i] ?? ''}>${to}`) ?? ''}`,
      );
    assert.equal(cycle, undefined, `import cycle ${cycle?.join(' -> ') ?? ''}\n${via.join('\n')}`);
  });

  void it('the allowed-imports table itself has no cycle', () => {
    const edges = new Map<string, Set<string>>();
    for (const [from, rules] of Object.entries(allowedImports)) {
      edges.set(from, new Set(rules.map((r) => r.replace(/:types$/, ''))));
    }
    assert.equal(findCycle(edges)?.join(' -> '), undefined);
  });

  void it('finds a cycle and an upward import when there is one', () => {
    const cyclic = new Map([
      ['models', new Set(['inference'])],
      ['inference', new Set(['models'])],
    ]);
    assert.deepEqual(findCycle(cyclic), ['models', 'inference', 'models']);
    assert.equal(allowed('models', 'inference', false), false);
    assert.equal(allowed('inference', 'models', false), false);
    assert.equal(allowed('inference', 'models', true), true);
    assert.equal(layerOf('src/server.ts'), 'gateway');
    assert.equal(layerOf('src/models/oms/verify-model.ts'), 'models');
    assert.equal(layerOf('src/unplaced.ts'), undefined);
    const read = importsOf({
      path: 'src/models/x.ts',
      text: [
        "import type { A } from '../inference/engine.js';",
        "import { type B } from '../inference/placement.js';",
        "export { c } from '../policy/c.js';",
        "const d = await import('../serving/d.js');",
      ].join('\n'),
    });
    assert.deepEqual(
      read.map((r) => [r.specifier, r.typeOnly]),
      [
        ['../inference/engine.js', true],
        ['../inference/placement.js', false],
        ['../policy/c.js', false],
        ['../serving/d.js', false],
      ],
    );
  });
});
