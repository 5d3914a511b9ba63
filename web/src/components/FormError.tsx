import { Alert } from '@mantine/core';
import { describeError, isApiError } from '../api/errors';
import { QuotaExceededNote } from './QuotaExceededNote';

/**
 * The error of a form that belongs to no single field (a field's own error is drawn next to it, see
 * {@link fieldErrorsOf}).
 */
export function FormError({
  error,
  fields,
  fieldErrors,
}: {
  readonly error: unknown;
  /** The form's fields: an error about one of them is drawn by that field, not here. */
  readonly fields: readonly string[];
  /** The form's field errors ({@link fieldErrorsOf}). */
  readonly fieldErrors: Readonly<Record<string, string>>;
}) {
  if (!error) return null;
  if (fields.some((f) => fieldErrors[f])) return null;
  return (
    <Alert color="red" role="alert" title="That did not work">
      {describeError(error)}
      <QuotaExceededNote error={error} />
    </Alert>
  );
}

/**
 * The server's validation errors by field name, plus the domain errors that are about one field
 * (`codes`: error code → field, e.g. `{ ORGANIZATION_SLUG_TAKEN: 'slug' }`).
 */
export function fieldErrorsOf(
  error: unknown,
  codes: Readonly<Record<string, string>>,
): Record<string, string> {
  if (!isApiError(error)) return {};
  const out = error.fieldErrors();
  const field = codes[error.code];
  if (field) out[field] ??= error.message;
  return out;
}
