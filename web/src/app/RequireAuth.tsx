import { useEffect, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Navigate, useLocation } from 'react-router';
import { Container } from '@mantine/core';
import { Loading, QueryState } from '../components/QueryState';
import { signedOutOnPurpose, useMe } from '../features/auth/api/me';
import {
  myOrganizationsKey,
  myOrganizationsQueryOptions,
} from '../features/organizations/api/listMyOrganizations';

/** Signed-in screens only: a signed-out person goes to sign-in, and comes back here afterwards. */
export function RequireAuth({ children }: { readonly children: ReactNode }) {
  const me = useMe();
  const location = useLocation();
  const qc = useQueryClient();
  // Every signed-in screen needs the user's organizations (switcher, /o/:org gate): asked for alongside
  // `me` rather than after it, one round trip less before the first page draws.
  useQuery({ ...myOrganizationsQueryOptions(), enabled: me.data !== null });
  const signedOut = !me.isPending && !me.isFetching && me.data === null;
  useEffect(() => {
    // Signed out: the refusal the early request got must not linger for the next user of this tab.
    if (signedOut) qc.removeQueries({ queryKey: myOrganizationsKey });
  }, [signedOut, qc]);
  // A signed-out answer being re-checked (just after signing in) is not yet a reason to leave.
  if (me.isPending || (me.data === null && me.isFetching)) return <Loading what="your account" />;
  if (!me.isError && !me.data) {
    // Signed out on purpose: plain sign-in. Otherwise (expired, revoked elsewhere) come back here afterwards.
    if (signedOutOnPurpose()) return <Navigate to="/sign-in" replace />;
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/sign-in?next=${encodeURIComponent(next)}`} replace />;
  }
  if (me.isError) {
    return (
      <Container size="sm" py="xl" component="main">
        <QueryState query={me} what="your account">
          {() => null}
        </QueryState>
      </Container>
    );
  }
  return <>{children}</>;
}
