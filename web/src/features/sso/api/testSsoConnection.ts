import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/orgs/{org}/sso/connections/{id}/test`: discovery (OIDC) or metadata (SAML), and what it found. */
export function useTestSsoConnection(org: string) {
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/orgs/{org}/sso/connections/{id}/test', { params: { path: { org, id } } })),
  });
}
