import { queryOptions, useQuery, type QueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { ApiError, unwrap } from '../../../api/errors';

export const meKey = ['auth', 'me'] as const;

/** `GET /v1/auth/me`: the signed-in user and the session's organization, or null when signed out. */
export const meQueryOptions = () =>
  queryOptions({
    queryKey: meKey,
    queryFn: async () => {
      try {
        const me = await unwrap(api.GET('/v1/auth/me'));
        leftOnPurpose = false;
        return me;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return null;
        throw err;
      }
    },
    staleTime: 30_000,
  });

export const useMe = () => useQuery(meQueryOptions());

/**
 * After signing out (or a password reset that ended every session): every cached answer of the user is
 * dropped and `me` reads signed out at once.
 */
export function forgetSession(qc: QueryClient): void {
  qc.removeQueries({ predicate: (q) => q.queryKey[0] !== meKey[0] });
  qc.setQueryData(meKey, null);
  // Mutations keep their variables (passwords, codes) and answers (TOTP secret, recovery codes).
  qc.getMutationCache().clear();
}

let leftOnPurpose = false;

/** True once this tab signed out on purpose, until a user is read again: sign-in then opens without a `next`. */
export const signedOutOnPurpose = (): boolean => leftOnPurpose;

/**
 * Signing out on purpose (the sign-out button, revoking this very session): the session is forgotten and
 * the signed-in screens send the tab to a plain `/sign-in`. One navigation, made by `RequireAuth`: a second
 * one from the caller raced it (which landed last decided between `/sign-in` and `/sign-in?next=…`).
 */
export function signOutHere(qc: QueryClient): void {
  leftOnPurpose = true;
  forgetSession(qc);
}
