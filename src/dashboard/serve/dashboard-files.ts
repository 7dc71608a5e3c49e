import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/**
 * The dashboard's built files (`npm run build` writes them to dist/dashboard/public), read once and kept in
 * memory: a handful of small files. Only names the build wrote are served; nothing else under dist/ is reachable.
 */

/** The folder with the service's package.json: the repository, or /app in the image. */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** Where the bundler writes and the service reads, whether it runs from dist/ or from the sources (tests). */
export function dashboardPublicDir(root: string = packageRoot()): string {
  return join(root, 'dist', 'dashboard', 'public');
}

/** The placeholder in index.html that the service replaces with its WS_SERVER_PATH. */
export const WS_PATH_PLACEHOLDER = '%WS_SERVER_PATH%';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A bundled file name: letters, digits, dot, dash, underscore; no path, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** esbuild's `[name]-[hash]` names: content-addressed, so cacheable for good. */
const HASHED_NAME = /-[A-Z0-9]{8}\.(js|css)$/;

export interface DashboardFile {
  body: Buffer;
  contentType: string;
  immutable: boolean;
}

export class DashboardFiles {
  private index: DashboardFile | null = null;
  private readonly assets = new Map<string, DashboardFile | null>();

  constructor(
    private readonly dir: string,
    private readonly wsPath: string,
  ) {}

  /** index.html with the WebSocket path filled in; null when the dashboard was not built. */
  indexHtml(): DashboardFile | null {
    if (this.index !== null) return this.index;
    const file = join(this.dir, 'index.html');
    if (!existsSync(file)) return null;
    const html = readFileSync(file, 'utf8').split(WS_PATH_PLACEHOLDER).join(escapeHtml(this.wsPath));
    this.index = { body: Buffer.from(html), contentType: CONTENT_TYPES['.html']!, immutable: false };
    return this.index;
  }

  /** A bundled asset by name; null for a name the build did not write (or that is not a plain file name). */
  asset(name: string): DashboardFile | null {
    if (!SAFE_NAME.test(name) || name === 'index.html') return null;
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) return null;
    const cached = this.assets.get(name);
    if (cached !== undefined) return cached;
    const file = join(this.dir, name);
    const found = existsSync(file) ? { body: readFileSync(file), contentType, immutable: HASHED_NAME.test(name) } : null;
    // Found files are kept; a miss is not remembered, so a build made while the service runs is picked up.
    if (found !== null) this.assets.set(name, found);
    return found;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
