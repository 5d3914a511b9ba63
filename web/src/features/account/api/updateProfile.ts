import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from '../../auth/api/me';

/** `PATCH /v1/auth/me`: sets (or, with null, clears) the display name; answers like `me`. */
export function useUpdateProfile() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string | null }) => unwrap(api.PATCH('/v1/auth/me', { body })),
    onSuccess: (me) => qc.setQueryData(meKey, me),
  });
}
