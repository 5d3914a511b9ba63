/**
 * An API refusal in the server's one error shape `{ error: { code, message, details? } }`
 * (src/platform/http/error-handler.ts), or a network failure (status 0).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * Per-field messages of a `VALIDATION_FAILED` answer (`details.fields[].field` such as `body.name` or
   * `name`), keyed by the last segment of the field path.
   */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    const fields = this.details.fields;
    if (!Array.isArray(fields)) return out;
    for (const f of fields as { field?: unknown; message?: unknown }[]) {
      if (typeof f.field !== 'string' || typeof f.message !== 'string') continue;
      const key = f.field.split('.').pop() ?? f.field;
      out[key] ??= `${key} ${f.message}`;
    }
    return out;
  }

  /** Seconds to wait, from a throttle's `details.retryAfterSeconds`. */
  retryAfterSeconds(): number | undefined {
    const s = this.details.retryAfterSeconds;
    return typeof s === 'number' ? s : undefined;
  }
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

function toApiError(status: number, body: unknown): ApiError {
  const e = (body as ErrorBody | undefined)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : {};
    return new ApiError(status, e.code, e.message, details);
  }
  return new ApiError(status, `HTTP_${status}`, `The server answered ${status}.`);
}

/** The `data` of an openapi-fetch call, or an {@link ApiError}. */
export async function unwrap<D>(
  call: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<D> {
  let result: { data?: D; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached. Check your connection and retry.');
  }
  if (result.response.ok) return result.data as D;
  throw toApiError(result.response.status, result.error);
}

/** True for an ApiError with this status (and code, when given). */
export function isApiError(err: unknown, status?: number, code?: string): err is ApiError {
  return (
    err instanceof ApiError &&
    (status === undefined || err.status === status) &&
    (code === undefined || err.code === code)
  );
}

/** A sentence for a person: the server's message, with the wait of a throttle. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const wait = err.retryAfterSeconds();
    return wait ? `${err.message} (try again in ${wait} s)` : err.message;
  }
  return 'Something went wrong. Please try again.';
}
