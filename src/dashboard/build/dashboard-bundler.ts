import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { dashboardPublicDir, packageRoot } from '../serve/dashboard-files';

/**
 * `npm run build`'s second step: esbuild bundles the browser app (src/dashboard/app, Preact and uPlot included)
 * into dist/dashboard/public: one script, one stylesheet (uPlot's styles inside), both named by their content
 * hash, and index.html naming them. Nothing is loaded from elsewhere at run time.
 */

const ASSET_PLACEHOLDERS = { script: '%APP_JS%', style: '%APP_CSS%' } as const;

export interface BundleResult {
  outDir: string;
  files: string[];
}

export async function bundleDashboard(root = packageRoot(), outDir = dashboardPublicDir(root)): Promise<BundleResult> {
  const appDir = join(root, 'src', 'dashboard', 'app');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: join(appDir, 'main.tsx') },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // Browsers of the last few years; WebSocket, fetch and ES2020 syntax are all the page needs.
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(root, 'src', 'dashboard', 'tsconfig.json'),
    minify: true,
    sourcemap: 'linked',
    entryNames: '[name]-[hash]',
    outdir: outDir,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = outputs.find(([, o]) => o.entryPoint !== undefined);
  if (entry === undefined || entry[1].cssBundle === undefined)
    throw new Error('esbuild wrote no script or no stylesheet for the dashboard');
  const html = readFileSync(join(appDir, 'index.html'), 'utf8')
    .split(ASSET_PLACEHOLDERS.script)
    .join(`/dashboard/${basename(entry[0])}`)
    .split(ASSET_PLACEHOLDERS.style)
    .join(`/dashboard/${basename(entry[1].cssBundle)}`);
  writeFileSync(join(outDir, 'index.html'), html);
  return { outDir, files: [...outputs.map(([path]) => basename(path)), 'index.html'].sort() };
}

if (require.main === module) {
  bundleDashboard().then(
    ({ outDir, files }) => process.stdout.write(`dashboard: ${files.length} files in ${relative(process.cwd(), outDir) || '.'}\n`),
    (err: unknown) => {
      process.stderr.write(`dashboard bundle failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
