import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * docker-compose.yml as Docker Compose would see it, without Docker: parsed as YAML (merge keys `<<:` included,
 * as compose reads them) with `${VAR}`, `${VAR:-default}` and `${VAR-default}` interpolated from the given
 * environment (empty: every default applies, as on a fresh clone without a `.env`).
 */

export const COMPOSE_FILE = join(__dirname, '..', '..', 'docker-compose.yml');

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  profiles?: string[];
  stop_grace_period?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { ipam?: { config?: { subnet: string }[] } }>;
  volumes: Record<string, unknown>;
  [key: string]: unknown;
}

/** Compose's variable syntax in one string; `$$` is a literal `$`. An unset variable without a default is empty. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
    (whole, name: string | undefined, op: string | undefined, def: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env[name!];
      if (op === ':-') return v === undefined || v === '' ? def! : v;
      if (op === '-') return v === undefined ? def! : v;
      return v ?? '';
    },
  );
}

function interpolateAll(node: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, env));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env)]));
  }
  return node;
}

/** The file's text, and its content interpolated (numbers and booleans turned to strings, as compose's env does). */
export function loadCompose(env: Record<string, string | undefined> = {}): { text: string; file: ComposeFile } {
  const text = readFileSync(COMPOSE_FILE, 'utf8');
  const raw: unknown = parse(text, { merge: true });
  return { text, file: interpolateAll(raw, env) as ComposeFile };
}

/** `source:target[:mode]` of a short-syntax volume. */
export function mount(spec: string): { source: string; target: string; readOnly: boolean } {
  const [source, target, mode] = spec.split(':');
  return { source: source!, target: target!, readOnly: mode === 'ro' };
}
