import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindDatabase } from '../../../test/support/placement-kinds.js';
import { connect } from '../../../test/support/tenancy.js';
import { citusReadinessProblems } from './citus-readiness.js';
import { CITUS_LOCAL_TABLES, CITUS_REFERENCE_TABLES, citusClassification } from './citus-tables.js';

/**
 * The schema stays distributable on Citus (issue 14, citus-tables.ts), checked on plain PostgreSQL from the
 * catalog: keys of distributed tables lead with organization_id, no foreign key Citus refuses, no
 * sub-select in a policy, every table classified. For the suite's database (`pooled`) and a dedicated
 * tenant database (`database`: the same migrations, so the same answer, but a tenant database is what a
 * Citus cluster would hold). Schema placements are not a Citus layout: their copies are not checked here.
 */
describe.each(['pooled', 'database'] as const)('citus readiness, %s', (kind) => {
  let admin: pg.Client;

  beforeAll(async () => {
    admin = await connect((await kindDatabase(kind)).db.adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('the migrated schema has nothing Citus would refuse', async () => {
    expect(await citusReadinessProblems(admin)).toEqual([]);
  });

  it('classifies every table of public: organizations and users replicated, tenant tables distributed', async () => {
    const classes = new Map((await citusClassification(admin)).map((c) => [c.table, c.kind]));
    expect(classes.get('organizations')).toBe('reference');
    expect(classes.get('users')).toBe('reference');
    expect(classes.get('sessions')).toBe('local');
    expect(classes.get('projects')).toBe('distributed');
    expect(classes.get('usage_events')).toBe('distributed'); // partitioned: its partitions follow, unlisted
    const partitions = await admin.query<{ name: string }>(
      `select relname::text as name from pg_class where relnamespace = 'public'::regnamespace and relispartition`,
    );
    expect(partitions.rows.length).toBeGreaterThan(0);
    expect(partitions.rows.filter((p) => classes.has(p.name))).toEqual([]);
  });
});

describe('citus readiness: each check fires', () => {
  let admin: pg.Client;

  beforeAll(async () => {
    admin = await connect((await kindDatabase('pooled')).db.adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('names each kind of problem, on tables created after the lists were written', async () => {
    // In a transaction rolled back at the end: no other file ever sees these tables, and they lock no
    // existing table (no foreign key to one).
    await admin.query('begin');
    try {
      await admin.query(`
        create table citus_probe_ref (id uuid primary key, org uuid, dist_id uuid);
        create table citus_probe_local (id uuid primary key);
        create table citus_probe_dist (
          organization_id uuid not null, id uuid primary key, code text unique, ref_id uuid, local_id uuid,
          constraint citus_probe_dist_org_id unique (organization_id, id),
          constraint citus_probe_dist_ref foreign key (ref_id) references citus_probe_ref (id),
          constraint citus_probe_dist_local foreign key (local_id) references citus_probe_local (id));
        create table citus_probe_child (
          organization_id uuid not null, id uuid, parent_id uuid,
          constraint citus_probe_child_pk primary key (organization_id, id),
          constraint citus_probe_child_good foreign key (organization_id, parent_id)
            references citus_probe_dist (organization_id, id),
          constraint citus_probe_child_bad foreign key (parent_id) references citus_probe_dist (id));
        alter table citus_probe_ref add constraint citus_probe_ref_dist
          foreign key (org, dist_id) references citus_probe_dist (organization_id, id);
        alter table citus_probe_local add column dist_id uuid
          constraint citus_probe_local_dist references citus_probe_dist (id);
        create table citus_probe_unclassified (id int);
        alter table citus_probe_child enable row level security;
        create policy citus_probe_sub on citus_probe_child
          using (organization_id = (select app_current_tenant()));
      `);
      const problems = await citusReadinessProblems(admin, {
        reference: { ...CITUS_REFERENCE_TABLES, citus_probe_ref: 'probe' },
        local: { ...CITUS_LOCAL_TABLES, citus_probe_local: 'probe', citus_probe_gone: 'dropped since' },
      });
      expect(problems.filter((p) => p.startsWith('citus_probe'))).toEqual([
        'citus_probe_child: foreign key citus_probe_child_bad (distributed -> distributed citus_probe_dist) does not lead with organization_id on both sides',
        'citus_probe_child: policy citus_probe_sub uses a sub-select (Citus refuses it on distributed tables)',
        'citus_probe_dist: foreign key citus_probe_dist_local (distributed -> local citus_probe_local): a distributed table cannot reference a local one',
        'citus_probe_dist: unique index citus_probe_dist_code_key does not lead with organization_id (distributed table)',
        'citus_probe_dist: unique index citus_probe_dist_pkey does not lead with organization_id (distributed table)',
        'citus_probe_gone: classified but no such table in public (stale entry)',
        'citus_probe_local: foreign key citus_probe_local_dist (local -> distributed citus_probe_dist): a local table cannot reference a distributed one',
        'citus_probe_ref: foreign key citus_probe_ref_dist (reference -> distributed citus_probe_dist): a reference table can only reference reference tables',
        'citus_probe_unclassified: no organization_id and not classified (declare it reference or local, with why)',
      ]);
      await expect(citusClassification(admin)).rejects.toThrow(/not classified.*citus_probe_local/);
    } finally {
      await admin.query('rollback');
    }
  });
});
