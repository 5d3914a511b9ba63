import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { signOutHere } from '../../auth/api/me';
import { sessionsKey } from './listSessions';

/**
 * `DELETE /v1/auth/sessions/{id}`: signs one of the user's sessions out. Revoking the current one signs
 * this browser out (the server clears the cookie): the cached user is forgotten and the signed-in screen
 * gives way to the sign-in page ({@link signOutHere}).
 */
export function useRevokeSession() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (session: { id: string; current: boolean }) => {
      await unwrap(api.DELETE('/v1/auth/sessions/{id}', { params: { path: { id: session.id } } }));
      return session;
    },
    onSuccess: async (session) => {
      if (session.current) signOutHere(qc);
      else await qc.invalidateQueries({ queryKey: sessionsKey });
    },
  });
}
