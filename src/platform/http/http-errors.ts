import { AppError } from '../errors.js';

export type HttpErrorCode =
  | 'NOT_FOUND'
  | 'ROUTE_NOT_FOUND'
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BAD_REQUEST'
  | 'BODY_TOO_DEEP'
  | 'URI_TOO_LONG'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'SERVICE_UNAVAILABLE'
  | 'DATABASE_UNAVAILABLE'
  | 'DATABASE_BUSY'
  | 'INTERNAL';

/** Errors raised by the HTTP layer itself. */
export class HttpError extends AppError<HttpErrorCode> {}
