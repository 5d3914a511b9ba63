import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { settingsKey } from './getSsoSettings';

/** `PUT /v1/orgs/{org}/sso/settings`. */
export function useUpdateSsoSettings(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (requireSso: boolean) =>
      unwrap(api.PUT('/v1/orgs/{org}/sso/settings', { params: { path: { org } }, body: { requireSso } })),
    onSuccess: (data) => qc.setQueryData(settingsKey(org), data),
  });
}
