import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { signOutHere } from './me';

/** `POST /v1/auth/logout`. The caller forgets the session (`forgetSession`) when it is done. */
export function useLogout() {
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/auth/logout')),
  });
}

/** Signs out; the signed-in screen then gives way to the sign-in page ({@link signOutHere}). */
export function useSignOut(): { signOut: () => Promise<void>; pending: boolean } {
  const logout = useLogout();
  const qc = useQueryClient();
  return {
    pending: logout.isPending,
    signOut: async () => {
      // Signed out on the server or not (already expired), this browser forgets the session.
      await logout.mutateAsync().catch(() => undefined);
      signOutHere(qc);
    },
  };
}
