import { Navigate } from 'react-router';
import { EmptyState, Loading, QueryState } from '../components/QueryState';
import { Button } from '@mantine/core';
import { Link } from 'react-router';
import { useMe } from '../features/auth/api/me';
import { useMyOrganizations } from '../features/organizations/api/listMyOrganizations';

/** `/`: the session's current organization (the last one used), else the first one. */
export function HomeRedirect() {
  const me = useMe();
  const orgs = useMyOrganizations();
  if (me.isPending) return <Loading what="your account" />;
  return (
    <QueryState
      query={orgs}
      what="your organizations"
      isEmpty={(list) => list.length === 0}
      empty={
        <EmptyState title="You are not a member of any organization yet">
          <Button component={Link} to="/organizations/new">
            Create an organization
          </Button>
        </EmptyState>
      }
    >
      {(list) => {
        const target = list.find((o) => o.id === me.data?.currentOrganizationId) ?? list[0]!;
        return <Navigate to={`/o/${target.slug}/projects`} replace />;
      }}
    </QueryState>
  );
}
