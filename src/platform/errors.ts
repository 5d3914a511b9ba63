/**
 * Base of every module's error class. `code` is UPPER_SNAKE and stable (clients switch on it);
 * `status` is the HTTP status the error handler answers with; `details` is safe to show.
 */
export class AppError<C extends string = string> extends Error {
  readonly code: C;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: C, message: string, status: number, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
  }
}
