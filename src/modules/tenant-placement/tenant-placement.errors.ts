import { AppError } from '../../platform/errors.js';

export type PlacementMoveErrorCode =
  | 'MOVE_NOT_FOUND'
  | 'MOVE_TARGET_UNSUPPORTED'
  | 'MOVE_CONFLICT'
  | 'MOVE_ALREADY_PLACED'
  | 'MOVE_NOT_ABORTABLE'
  | 'MOVE_RUNNING'
  | 'MOVE_OWNER_ROLE_MISSING'
  | 'ORGANIZATION_NOT_FOUND';

/** A refusal of the placement move engine, with the HTTP status the admin API answers it with. */
export class PlacementMoveError extends AppError<PlacementMoveErrorCode> {}

/** The database's refusals of migration 0040's functions, as the engine's errors (others pass through). */
export function moveErrorOf(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  switch (e.code) {
    case '0A000':
      return new PlacementMoveError('MOVE_TARGET_UNSUPPORTED', msg, 409);
    case '55006':
      return new PlacementMoveError('MOVE_CONFLICT', msg, 409);
    case '22023':
      return /already/.test(msg) ? new PlacementMoveError('MOVE_ALREADY_PLACED', msg, 409) : err;
    case 'P0002':
      return /organization/.test(msg)
        ? new PlacementMoveError('ORGANIZATION_NOT_FOUND', msg, 404)
        : new PlacementMoveError('MOVE_NOT_FOUND', msg, 404);
    default:
      return err;
  }
}
