import { isApiError } from '../../../api/errors';

/**
 * The server's complaints about a form, by the form's top-level field: a `VALIDATION_FAILED` answer
 * names its fields (`body.rules.0.plans`), and the domain refusals of these forms start with the field
 * they are about (`rules[0].plans needs 1 to 50 plans`, `attributes: at most 50`). `codes` adds domain
 * errors that are about one field (`{ FLAG_KEY_TAKEN: 'key' }`). Anything else is the form's own error.
 */
export function fieldMessages(
  error: unknown,
  fields: readonly string[],
  codes: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isApiError(error)) return out;
  const place = (path: string, message: string) => {
    const top = path.replace(/^(body|querystring|params)\./, '').split(/[.[:\s]/)[0] ?? '';
    if (fields.includes(top)) out[top] ??= message;
  };
  const listed = error.details.fields;
  if (Array.isArray(listed)) {
    for (const f of listed as { field?: unknown; message?: unknown }[]) {
      if (typeof f.field !== 'string' || typeof f.message !== 'string') continue;
      place(f.field, `${f.field.replace(/^(body|querystring)\./, '')} ${f.message}`);
    }
  } else {
    place(error.message, error.message);
  }
  const field = codes[error.code];
  if (field) out[field] ??= error.message;
  return out;
}
