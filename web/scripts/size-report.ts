/**
 * Prints the gzipped JavaScript and CSS the browser loads for the sign-in route (the entry chunk, its
 * static imports, and the lazily loaded sign-in page with its own), from Vite's build manifest. The
 * issue's budget: 200 KB of JavaScript. Exits 1 over budget.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
interface ManifestChunk {
  file: string;
  css?: string[];
  imports?: string[];
}
const manifest = JSON.parse(readFileSync(join(dist, '.vite', 'manifest.json'), 'utf8')) as Record<
  string,
  ManifestChunk | undefined
>;
const BUDGET_JS = 200 * 1024;

const files = new Set<string>();
function visit(key: string): void {
  const chunk = manifest[key];
  if (!chunk || files.has(chunk.file)) return;
  files.add(chunk.file);
  for (const css of chunk.css ?? []) files.add(css);
  for (const imported of chunk.imports ?? []) visit(imported);
}
visit('index.html');
visit('src/features/auth/pages/SignInPage.tsx');

let js = 0;
let css = 0;
for (const file of [...files].sort()) {
  const gz = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  if (file.endsWith('.js')) js += gz;
  else css += gz;
  console.log(`${(gz / 1024).toFixed(1).padStart(7)} KB  ${file}`);
}
console.log(
  `sign-in route: ${(js / 1024).toFixed(1)} KB JavaScript, ${(css / 1024).toFixed(1)} KB CSS (gzip -9)`,
);
if (js > BUDGET_JS) {
  console.error(`over the ${BUDGET_JS / 1024} KB JavaScript budget`);
  process.exit(1);
}
