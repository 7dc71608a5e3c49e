import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

/**
 * The dashboard bundles src/client/index.ts for the browser: nothing it imports, however indirectly, may be a
 * Node built-in, `ws` or any other package. Walks the import graph (type-only imports included: they are
 * harmless at run time, but a package's types would still need the package installed to type-check).
 */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (graph.has(file)) return;
    const specifiers = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
    graph.set(file, specifiers);
    for (const s of specifiers) {
      if (!s.startsWith('.')) continue;
      const target = [`${resolve(dirname(file), s)}.ts`, join(resolve(dirname(file), s), 'index.ts')].find((p) => existsSync(p));
      if (!target) throw new Error(`${file}: cannot resolve ${s}`);
      visit(target);
    }
  };
  visit(entry);
  return graph;
}

describe('the client’s browser entry', () => {
  const root = join(__dirname, '..', '..');
  const graph = importGraph(join(__dirname, 'index.ts'));
  const files = [...graph.keys()].map((f) => relative(root, f)).sort();

  it('imports only files of this repository, none of them Node-only', () => {
    const packages = [...graph.entries()].flatMap(([file, specs]) =>
      specs.filter((s) => !s.startsWith('.')).map((s) => `${relative(root, file)} imports ${s}`),
    );
    expect(packages).toEqual([]);
    expect(files).not.toContain('src/client/node.ts');
    // Outside src/client, only the shared types-only modules.
    expect(files.filter((f) => !f.startsWith('src/client/'))).toEqual(['src/analytics/metrics-shape.ts']);
  });

  it('has a Node entry that is the only place importing ws', () => {
    const node = importGraph(join(__dirname, 'node.ts'));
    const wsImporters = [...node.entries()].filter(([, specs]) => specs.includes('ws')).map(([f]) => relative(root, f));
    expect(wsImporters).toEqual(['src/client/node.ts']);
  });
});
