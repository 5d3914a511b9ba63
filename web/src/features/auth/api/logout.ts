import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { forgetSession } from './me';

/** `POST /v1/auth/logout`. The caller forgets the session ({@link forgetSession}) when it is done. */
export function useLogout() {
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/auth/logout')),
  });
}

/**
 * Signs out and opens the sign-in page. The page changes first, then the cached user is forgotten: the
 * other order unmounts the signed-in screen (sending it to sign-in with a `next`) before it could navigate.
 */
export function useSignOut(): { signOut: () => Promise<void>; pending: boolean } {
  const logout = useLogout();
  const qc = useQueryClient();
  const navigate = useNavigate();
  return {
    pending: logout.isPending,
    signOut: async () => {
      // Signed out on the server or not (already expired), this browser forgets the session.
      await logout.mutateAsync().catch(() => undefined);
      await navigate('/sign-in', { replace: true });
      forgetSession(qc);
    },
  };
}
