import type { QueryClient } from '@tanstack/react-query';
import { meKey } from '../../auth/api/me';
import { sessionsKey } from './listSessions';

/**
 * After two-factor was turned on or off: `me` says so, and every organization's answers are dropped
 * (not only marked stale): the `/o/:org` gate must not act on a cached "enrolment required" refusal.
 */
export async function twoFactorChanged(qc: QueryClient): Promise<void> {
  qc.removeQueries({ queryKey: ['org'] });
  await Promise.all([
    qc.invalidateQueries({ queryKey: meKey }),
    qc.invalidateQueries({ queryKey: sessionsKey }),
  ]);
}
