import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { seatLimitReached } from './plans.errors.js';

/**
 * Seats. The rule: an organization's seats in use are its ACTIVE memberships plus its PENDING invitations
 * that have not expired (a revoked, accepted or expired invitation holds none; the pending membership an
 * invitation of an existing account creates is not counted twice). The limit is its plan's `seat_limit`
 * (null: unlimited).
 *
 * Every check runs inside the organization's scope under the organization lock (its row `FOR NO KEY
 * UPDATE`, taken first by invitations, membership changes and plan changes alike), so two requests can
 * never both take the last seat: the second one reads the first one's committed seat.
 */
export interface SeatUsage {
  used: number;
  active: number;
  /** null: unlimited. */
  limit: number | null;
}

/** Seats in use and the limit of the organization's plan, in one round trip. */
export async function seatUsage(db: TenantDb, orgId: string): Promise<SeatUsage> {
  const row = await db
    .selectFrom('organizations as o')
    .innerJoin('plans as p', 'p.key', 'o.plan')
    .select('p.seat_limit')
    .select((eb) => [
      eb
        .selectFrom('memberships')
        .select(sql<string>`count(*)`.as('n'))
        .where('organization_id', '=', orgId)
        .where('status', '=', 'active')
        .as('active'),
      eb
        .selectFrom('invitations')
        .select(sql<string>`count(*)`.as('n'))
        .where('organization_id', '=', orgId)
        .where('status', '=', 'pending')
        .where('expires_at', '>', sql<Date>`now()`)
        .as('pending'),
    ])
    .where('o.id', '=', orgId)
    .executeTakeFirstOrThrow();
  const active = Number(row.active ?? 0);
  return { used: active + Number(row.pending ?? 0), active, limit: row.seat_limit };
}

/** What invitations call, under the organization lock, before a seat is taken. */
export interface SeatCheck {
  /** Before a new pending invitation (or the renewal of an expired one): refused once every seat is in
   *  use. */
  readonly beforeInvite: (db: TenantDb, orgId: string) => Promise<void>;
  /**
   * Before a membership becomes active. The invitation being accepted already held a seat, so this fails
   * only when the organization is over its limit (a platform administrator moved it to a smaller plan):
   * then the ACTIVE memberships decide, and the first accepts win until they fill the limit.
   */
  readonly beforeActivate: (db: TenantDb, orgId: string) => Promise<void>;
}

/** The seat checks (409 SEAT_LIMIT_REACHED naming the limit). */
export const seatCheck: SeatCheck = {
  async beforeInvite(db, orgId) {
    const s = await seatUsage(db, orgId);
    if (s.limit !== null && s.used >= s.limit) {
      throw seatLimitReached(s.limit, s.used, 'revoke an invitation, remove a member or change plan');
    }
  },
  async beforeActivate(db, orgId) {
    const s = await seatUsage(db, orgId);
    if (s.limit !== null && s.active >= s.limit) {
      throw seatLimitReached(s.limit, s.active, 'ask an owner of the organization to free a seat');
    }
  },
};
