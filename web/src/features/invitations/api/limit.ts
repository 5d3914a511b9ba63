import { isApiError } from '../../../api/errors';

/**
 * "Limit reached, try again in N minutes" for a 429 of the invitation limits (`details.retryAfterSeconds`),
 * with the server's own reason.
 */
export function limitMessage(err: unknown): string {
  if (!isApiError(err)) return 'Limit reached, try again later.';
  const seconds = err.retryAfterSeconds();
  const minutes = seconds === undefined ? undefined : Math.max(1, Math.ceil(seconds / 60));
  const when = minutes === undefined ? 'later' : `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  return `Limit reached, try again ${when} (${err.message}).`;
}
