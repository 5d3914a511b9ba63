#!/usr/bin/env node
// `npx saasready <command>`: runs the TypeScript CLI (src/cli/main.ts) with tsx, from this checkout.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const tsx = pathToFileURL(require.resolve('tsx/esm')).href;
const child = spawn(
  process.execPath,
  ['--import', tsx, path.join(root, 'src/cli/main.ts'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
