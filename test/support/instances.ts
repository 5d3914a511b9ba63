import { inject } from 'vitest';
import { buildTestApp } from './app.js';
import { testJwtKey } from '../../src/modules/tokens/tokens.test-support.js';
import type { Composition } from '../../src/app/compose.js';

/** Two server instances of one deployment: one database, one Redis (the suite's), the same JWT keys. */
export async function buildTwoInstances(): Promise<[Composition, Composition]> {
  const redisUrl = inject('redisUrl');
  const jwtKeys = [await testJwtKey()];
  return [await buildTestApp({ redisUrl, jwtKeys }), await buildTestApp({ redisUrl, jwtKeys })];
}

/** Closes instances built by `buildTwoInstances`: the server, then its composition. */
export async function closeInstances(...instances: Composition[]): Promise<void> {
  for (const c of instances) {
    await c.app.close();
    await c.close();
  }
}
