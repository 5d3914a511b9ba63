import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * `POST /v1/auth/two-factor/enroll`: a new secret, pending until confirmed, with its `otpauth://` URI and
 * QR code (SVG). Starting again replaces the pending secret. Kept in memory only, never stored.
 */
export function useBeginTwoFactorEnrollment() {
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/auth/two-factor/enroll')),
  });
}
