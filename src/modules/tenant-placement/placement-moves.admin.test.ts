import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { createPlacementMovesAdmin } from './placement-moves.admin.js';
import type { PlacementMove, PlacementMoveService } from './tenant-placement.service.js';

describe('placement moves admin without the owner role', () => {
  it('answers every call 503 MOVE_OWNER_ROLE_MISSING, naming what to configure', async () => {
    const admin = createPlacementMovesAdmin({
      engine: undefined,
      platformDb: {} as PlatformDb,
      log: pino({ level: 'silent' }),
    });
    const by = { actor: { kind: 'user' as const, userId: 'u' }, requestId: 'r', sessionToken: 't' };
    const id = '00000000-0000-7000-8000-000000000000';
    for (const call of [
      () => admin.start(by, id, 'schema'),
      () => admin.abort(by, id),
      () => admin.get(id),
      () => admin.list({}),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'MOVE_OWNER_ROLE_MISSING', status: 503 });
      expect((err as Error).message).toMatch(/MIGRATION_DATABASE_URL/);
    }
  });
});

describe('placement moves admin: aborts', () => {
  it('refuses (409) to abort a move out of a tenant database that has switched, naming it, before anything is audited', async () => {
    const id = '00000000-0000-7000-8000-000000000001';
    const move = {
      id,
      organizationId: '00000000-0000-7000-8000-000000000002',
      from: 'database',
      to: 'pooled',
      databaseKey: null,
      fromDatabaseKey: 'eu-1',
      step: 'cleaning',
    } as unknown as PlacementMove;
    const engine = {
      get: () => Promise.resolve(move),
      abort: () => Promise.reject(new Error('not reached')),
    } as unknown as PlacementMoveService;
    const admin = createPlacementMovesAdmin({
      engine,
      // Not reached either: an abort is audited only once it is taken.
      platformDb: {} as PlatformDb,
      log: pino({ level: 'silent' }),
    });
    const by = { actor: { kind: 'user' as const, userId: 'u' }, requestId: 'r', sessionToken: 't' };
    const err = await admin.abort(by, id).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MOVE_NOT_ABORTABLE', status: 409 });
    expect((err as Error).message).toMatch(/switched out of database eu-1: move the organization back/);
  });
});
