import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/auth/sso/discover`: the IdP URL for an address (404 SSO_NOT_CONFIGURED when none). */
export function useDiscoverSso() {
  return useMutation({
    mutationFn: (body: { email: string; returnTo?: string }) =>
      unwrap(api.POST('/v1/auth/sso/discover', { body })),
  });
}
