import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The chart under test and the files around it, read from the repository. */
export const CHART_DIR = join(__dirname, '..', '..', 'helm');
export const TEMPLATES_DIR = join(CHART_DIR, 'templates');
export const EXAMPLES_DIR = join(CHART_DIR, 'examples');

export type Values = Record<string, unknown>;

export function readChartFile(relative: string): string {
  return readFileSync(join(CHART_DIR, relative), 'utf8');
}

export function loadYaml(relative: string): Values {
  const doc: unknown = parse(readChartFile(relative));
  if (!isMap(doc)) throw new Error(`${relative}: not a YAML mapping`);
  return doc;
}

export function defaultValues(): Values {
  return loadYaml('values.yaml');
}

export function valuesSchema(): Record<string, unknown> {
  return JSON.parse(readChartFile('values.schema.json')) as Record<string, unknown>;
}

/** examples/*.yaml, by file name. */
export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

/** Template files (not _helpers.tpl): the manifests and NOTES.txt. */
export function templateFiles(): string[] {
  return readdirSync(TEMPLATES_DIR)
    .filter((f) => !f.startsWith('_'))
    .sort();
}

export function readTemplate(name: string): string {
  return readFileSync(join(TEMPLATES_DIR, name), 'utf8');
}

export function isMap(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Values as Helm computes them from values.yaml and an override (`-f`): maps merge key by key, lists and
 * scalars replace, and null removes the key.
 */
export function mergeValues(base: Values, override: Values): Values {
  const out: Values = structuredClone(base);
  for (const [k, v] of Object.entries(override)) {
    const current = out[k];
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(current)) out[k] = mergeValues(current, v);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** The value at a path, or `missing` when some key on the way is absent (a present null is a value). */
export function valueAt(values: Values, path: readonly string[]): { found: boolean; value?: unknown } {
  let node: unknown = values;
  for (const key of path) {
    if (!isMap(node) || !(key in node)) return { found: false };
    node = node[key];
  }
  return { found: true, value: node };
}

/** The schema node describing a path, following `properties`; undefined when the schema does not name it. */
export function schemaAt(schema: Record<string, unknown>, path: readonly string[]): Record<string, unknown> | undefined {
  let node: Record<string, unknown> | undefined = schema;
  for (const key of path) {
    const props: unknown = node?.properties;
    if (!isMap(props) || !isMap(props[key])) return undefined;
    node = props[key];
  }
  return node;
}
