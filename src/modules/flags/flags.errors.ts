import { AppError } from '../../platform/errors.js';

export type FlagsErrorCode =
  | 'FLAG_NOT_FOUND'
  | 'FLAG_KEY_TAKEN'
  | 'FLAG_DEFINITION_INVALID'
  | 'FLAG_VERSION_CONFLICT'
  | 'FLAG_OVERRIDE_NOT_ALLOWED'
  | 'FLAG_OVERRIDE_VALUE_INVALID'
  | 'FLAG_OVERRIDE_NOT_FOUND';

const STATUS: Record<FlagsErrorCode, number> = {
  FLAG_NOT_FOUND: 404,
  FLAG_KEY_TAKEN: 409,
  FLAG_DEFINITION_INVALID: 400,
  FLAG_VERSION_CONFLICT: 409,
  FLAG_OVERRIDE_NOT_ALLOWED: 409,
  FLAG_OVERRIDE_VALUE_INVALID: 400,
  FLAG_OVERRIDE_NOT_FOUND: 404,
};

/** Errors of the feature flags module. */
export class FlagsError extends AppError<FlagsErrorCode> {
  constructor(code: FlagsErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

/** The one answer for a flag key that names no definition (malformed keys included). */
export const flagNotFound = () => new FlagsError('FLAG_NOT_FOUND', 'feature flag not found');

/**
 * The one answer for "this organization has no override of that flag", whether or not the flag exists,
 * so the answer never depends on anything but the caller's own organization.
 */
export const overrideNotFound = () => new FlagsError('FLAG_OVERRIDE_NOT_FOUND', 'flag override not found');

/** A definition that breaks a rule no schema can express (values vs variants, weights, sizes). */
export const invalidDefinition = (message: string) => new FlagsError('FLAG_DEFINITION_INVALID', message);
