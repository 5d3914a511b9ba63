import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from '../../auth/api/me';

/**
 * `POST /v1/session/switch`: makes an organization the session's current one, which the server also
 * remembers as the user's last organization (the next sign-in opens it).
 */
export function useSwitchOrganization() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (organization: string) => unwrap(api.POST('/v1/session/switch', { body: { organization } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: meKey }),
  });
}
