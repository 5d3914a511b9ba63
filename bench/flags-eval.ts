/**
 * Feature flag evaluation served from the in-process cache: `FlagsService.evaluate` (every flag for one
 * organization and user, as `GET /v1/flags` answers it, minus HTTP) over 50 flags of mixed kinds —
 * boolean defaults, user and organization rollouts, weighted multivariate, plan/attribute rules, an
 * override, killed flags. Every call is timed on its own; the loaders are counted to prove the measured
 * loop never reached the database. A cold figure (cache dropped before each call) is given for reference.
 * Usage: npm run bench:flags  (env: BENCH_ITERATIONS, BENCH_DATABASE_URL)
 */
import { randomUUID } from 'node:crypto';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { createPlatformDb } from '../src/platform/db/platform-db.js';
import { createBareOrganization } from '../src/modules/organizations/organization-records.js';
import { createFlagCache } from '../src/modules/flags/flag-cache.js';
import { loadCompiledFlags } from '../src/modules/flags/flag-definitions.service.js';
import { insertFlagRow } from '../src/modules/flags/flag-definitions.repository.js';
import { createFlagsService, loadOrganizationFlagContext } from '../src/modules/flags/flags.service.js';
import { checkFlagSpec, specFromInput, type FlagInput } from '../src/modules/flags/flag-model.js';
import type { TenantCtx } from '../src/platform/tenancy/context.js';
import { benchDatabase } from './harness.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200_000);
const FLAGS = 50;

function flagInput(i: number): FlagInput {
  const key = `bench.flag-${String(i).padStart(2, '0')}`;
  const variants = [
    { key: 'control', value: 'control' },
    { key: 'a', value: { layout: 'grid', columns: 3 } },
    { key: 'b', value: { layout: 'list', columns: 1 } },
  ];
  switch (i % 5) {
    case 0:
      return { key, kind: 'boolean', defaultValue: i % 2 === 0, killed: i % 25 === 0 };
    case 1:
      return { key, kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 30 } };
    case 2:
      return {
        key,
        kind: 'multivariate',
        variants,
        defaultValue: 'control',
        rollout: {
          by: 'user',
          weights: [
            { value: 'control', weight: 50 },
            { value: variants[1]!.value, weight: 25 },
            { value: variants[2]!.value, weight: 25 },
          ],
        },
      };
    case 3:
      return {
        key,
        kind: 'boolean',
        defaultValue: false,
        rules: [
          { plans: ['enterprise'], value: true },
          { attributes: { region: ['us', 'ca'], beta: [true] }, value: true },
          {
            plans: ['pro', 'team'],
            attributes: { region: ['eu'] },
            rollout: { by: 'organization', percentage: 40 },
          },
        ],
        rollout: { by: 'organization', percentage: 5 },
      };
    default:
      return { key, kind: 'multivariate', variants, defaultValue: 'control', allowOrgOverride: true };
  }
}

const { db, close } = await benchDatabase();
const tenancy = createTenancy({ url: db.url, poolSize: 4 });
const platformDb = createPlatformDb(tenancy.control.pool);
try {
  const loads = { definitions: 0, organizations: 0 };
  const cache = createFlagCache({
    loadDefinitions: () => (loads.definitions++, loadCompiledFlags(platformDb)),
    loadOrganization: (orgId) => (
      loads.organizations++,
      loadOrganizationFlagContext(tenancy.withTenant, orgId)
    ),
  });
  const flags = createFlagsService({
    withTenant: tenancy.withTenant,
    cache,
    overridesChanged: (orgId) => cache.forgetOrganization(orgId),
  });
  // Written straight into the table: the platform service would need a platform administrator's browser
  // session, which is beside the point of an evaluation bench.
  for (let i = 0; i < FLAGS; i++) {
    const input = flagInput(i);
    await insertFlagRow(platformDb, input.key, checkFlagSpec(specFromInput(input)));
  }

  const org = await createBareOrganization(tenancy.withTenant, { slug: 'bench-flags', name: 'Bench' });
  await tenancy.withTenant(org.id, (t) =>
    t
      .updateTable('organizations')
      .set({ plan: 'pro', attributes: { region: 'eu', beta: true } })
      .where('id', '=', org.id)
      .execute(),
  );
  const ctx = (userId: string): TenantCtx => ({
    tenantId: org.id,
    actor: { kind: 'user', userId },
    requestId: 'bench',
  });
  await flags.setOverride(
    { ...ctx(randomUUID()), actor: { kind: 'system', name: 'bench' } },
    'bench.flag-04',
    'control',
  );
  const users = Array.from({ length: 1024 }, () => randomUUID());

  // Cold, for reference: both cache entries dropped before every call (two reads from PostgreSQL).
  const cold: number[] = [];
  for (let i = 0; i < 200; i++) {
    cache.forgetAll();
    const s = performance.now();
    await flags.evaluate(ctx(users[i % users.length]!));
    cold.push((performance.now() - s) * 1000);
  }

  // Warm-up, then the measured loop.
  for (let i = 0; i < 20_000; i++) await flags.evaluate(ctx(users[i % users.length]!));
  const before = { ...loads };
  const lat = new Float64Array(ITERATIONS);
  let answered = 0;
  const t0 = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const s = performance.now();
    const res = await flags.evaluate(ctx(users[i & 1023]!));
    lat[i] = (performance.now() - s) * 1000;
    answered += res.details.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (loads.definitions !== before.definitions || loads.organizations !== before.organizations) {
    throw new Error('the measured loop reached the database');
  }
  if (answered !== ITERATIONS * FLAGS) throw new Error(`expected ${FLAGS} flags per call`);

  lat.sort();
  cold.sort((x, y) => x - y);
  const q = (xs: ArrayLike<number>, p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;
  const us = (v: number) => `${v.toFixed(1)} µs`;
  console.log(`flag evaluation, ${FLAGS} flags per call, one organization, 1024 users, served from cache`);
  console.log(`  calls            ${ITERATIONS} in ${seconds.toFixed(2)} s`);
  console.log(`  p50              ${us(q(lat, 0.5))}`);
  console.log(`  p99              ${us(q(lat, 0.99))}`);
  console.log(`  p99.9            ${us(q(lat, 0.999))}`);
  console.log(`  max              ${us(lat[lat.length - 1] ?? 0)}`);
  console.log(`  calls/s          ${Math.round(ITERATIONS / seconds)}`);
  console.log(`  evaluations/s    ${Math.round((ITERATIONS * FLAGS) / seconds)} (flag answers)`);
  console.log(`  database loads   0 during the loop`);
  console.log(
    `reference, cache dropped before each call (2 PostgreSQL reads): p50 ${us(q(cold, 0.5))}, p99 ${us(q(cold, 0.99))}`,
  );
} finally {
  await platformDb.destroy();
  await tenancy.close();
  await close();
}
