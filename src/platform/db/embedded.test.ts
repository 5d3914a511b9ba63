import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hydrateSymlinks } from './embedded.js';

describe('embedded PostgreSQL binaries', () => {
  it('recreates the shared-library links an install without scripts (npm 11 allowScripts) leaves out', async () => {
    const pkg = await fs.mkdtemp(path.join(os.tmpdir(), 'sr-hydrate-'));
    try {
      await fs.mkdir(path.join(pkg, 'native/lib'), { recursive: true });
      await fs.writeFile(path.join(pkg, 'native/lib/libpq.so.5.18'), 'binary');
      await fs.writeFile(
        path.join(pkg, 'native/pg-symlinks.json'),
        JSON.stringify([{ source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so.5' }]),
      );
      hydrateSymlinks(pkg);
      expect(await fs.readlink(path.join(pkg, 'native/lib/libpq.so.5'))).toBe('libpq.so.5.18');
      expect(await fs.readFile(path.join(pkg, 'native/lib/libpq.so.5'), 'utf8')).toBe('binary');
      hydrateSymlinks(pkg); // idempotent
    } finally {
      await fs.rm(pkg, { recursive: true, force: true });
    }
  });
});
