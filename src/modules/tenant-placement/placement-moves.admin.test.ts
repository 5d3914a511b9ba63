import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { createPlacementMovesAdmin } from './placement-moves.admin.js';

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
