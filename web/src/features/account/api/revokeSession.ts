import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { forgetSession } from '../../auth/api/me';
import { sessionsKey } from './listSessions';

/**
 * `DELETE /v1/auth/sessions/{id}`: signs one of the user's sessions out. Revoking the current one signs
 * this browser out (the server clears the cookie): the page goes to sign-in first, then the cached user
 * is forgotten (see `useSignOut`).
 */
export function useRevokeSession() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: async (session: { id: string; current: boolean }) => {
      await unwrap(api.DELETE('/v1/auth/sessions/{id}', { params: { path: { id: session.id } } }));
      return session;
    },
    onSuccess: async (session) => {
      if (!session.current) return qc.invalidateQueries({ queryKey: sessionsKey });
      await navigate('/sign-in', { replace: true });
      forgetSession(qc);
    },
  });
}
