/**
 * Builds the console when web/dist is missing or older than its sources (web/src, index.html, the Vite
 * config, the lockfile, and the server's permission map it imports); installs web/'s packages first when
 * they are missing. The root `prestart` runs it (`tsx web/scripts/ensure-built.ts`), the browser tests
 * call {@link ensureBuilt}.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(web, 'dist', 'index.html');
const sources = [
  join(web, 'src'),
  join(web, 'index.html'),
  join(web, 'vite.config.ts'),
  join(web, 'package-lock.json'),
  join(web, '..', 'src', 'platform', 'authz'),
];

/** The newest modification time under `path` (generated API types excluded: they follow the server). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return path.endsWith('schema.d.ts') ? 0 : st.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const npm = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  execFileSync('npm', args, { cwd: web, stdio: 'inherit', env });

/** Installs and builds what is missing or stale; true when it built. */
export function ensureBuilt(): boolean {
  if (!existsSync(join(web, 'node_modules'))) npm(['ci', '--no-audit', '--no-fund']);
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const changedAt = Math.max(...sources.map(newest));
  if (builtAt >= changedAt) return false;
  console.log(builtAt ? 'console: sources changed, rebuilding web/' : 'console: building web/');
  // Always a production build: a caller under NODE_ENV=test (Vitest) or development must not leave React's
  // development runtime in dist/, which `npm start` would then serve.
  npm(['run', 'build'], { ...process.env, NODE_ENV: 'production' });
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureBuilt();
