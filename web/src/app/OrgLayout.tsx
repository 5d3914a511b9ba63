import { useEffect, useMemo } from 'react';
import { Alert, Button, Stack, Text } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { Link, Navigate, Outlet, useLocation, useParams } from 'react-router';
import { describeError, isApiError } from '../api/errors';
import type { Permission } from '../../../src/platform/authz/permissions';
import { Loading, QueryState } from '../components/QueryState';
import { useMe } from '../features/auth/api/me';
import { useBillingProvider, useCreatePortalSession } from '../features/billing/api/stripeLinks';
import { myOrganizationsKey, useMyOrganizations } from '../features/organizations/api/listMyOrganizations';
import { useOrganization } from '../features/organizations/api/getOrganization';
import { useSwitchOrganization } from '../features/organizations/api/switchOrganization';
import { OrgContext } from '../features/organizations/components/org-context';
import { usePermissions } from '../features/organizations/components/use-permissions';

/**
 * `/o/:org/…`: the organization must be one the user is an ACTIVE member of; any other slug (another
 * tenant's, or none) reads "not found", exactly like the API. Opening one makes it the session's current
 * organization, so the next sign-in returns to it.
 */
export function OrgLayout() {
  const { org: slug = '' } = useParams();
  const orgs = useMyOrganizations();
  const { pathname } = useLocation();
  const qc = useQueryClient();
  useEffect(() => {
    // The member's role (hence what the screens offer) is re-read on the next page once the cached
    // answer is a few seconds old: a role changed by an administrator shows without a reload.
    void qc.refetchQueries({ queryKey: myOrganizationsKey, stale: true, type: 'active' });
  }, [pathname, qc]);
  return (
    <QueryState query={orgs} what="your organizations">
      {(list) => {
        const org = list.find((o) => o.slug === slug);
        return org ? <OrgScope org={org} /> : <OrgNotFound />;
      }}
    </QueryState>
  );
}

function OrgScope({
  org,
}: {
  readonly org: NonNullable<ReturnType<typeof useMyOrganizations>['data']>[number];
}) {
  const me = useMe();
  const switchOrg = useSwitchOrganization();
  const current = me.data?.currentOrganizationId;
  const { mutate } = switchOrg;
  useEffect(() => {
    if (current !== undefined && current !== org.id) mutate(org.id);
  }, [current, org.id, mutate]);
  const { ready, permissions } = usePermissions(org.slug, org.role);
  const gate = useOrganization(org.slug);
  const value = useMemo(() => ({ org, can: (p: Permission) => permissions.has(p) }), [org, permissions]);
  if (isApiError(gate.error, 403, 'ORGANIZATION_SUSPENDED')) {
    return (
      <OrgSuspended name={org.name} slug={org.slug} forBilling={gate.error.details.reason === 'billing'} />
    );
  }
  if (isApiError(gate.error, 403, 'TWO_FACTOR_ENROLLMENT_REQUIRED')) {
    return <Navigate to={`/account/two-factor?required=${encodeURIComponent(org.slug)}`} replace />;
  }
  // The gate's answer is awaited only when it refuses: the page and its data load alongside it.
  if (!ready) return <Loading what="your permissions" />;
  return (
    <OrgContext.Provider value={value}>
      {gate.data?.lifecycleState === 'pending_deletion' && gate.data.deletionDueAt ? (
        <PendingDeletionBanner slug={org.slug} due={gate.data.deletionDueAt} />
      ) : null}
      <Outlet />
    </OrgContext.Provider>
  );
}

/** On every page of an organization scheduled for deletion: it is read-only, and until when. */
function PendingDeletionBanner({ slug, due }: { readonly slug: string; readonly due: string }) {
  return (
    <Alert color="orange" title="Read-only: scheduled for deletion" mb="md">
      <Text size="sm">
        This organization will be deleted on{' '}
        {new Date(due).toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'short' })}. Until then you
        can read and export everything, but nothing can be changed.{' '}
        <Link to={`/o/${encodeURIComponent(slug)}/settings`}>Deletion status</Link>
      </Text>
    </Alert>
  );
}

function OrgSuspended({
  name,
  slug,
  forBilling,
}: {
  readonly name: string;
  readonly slug: string;
  readonly forBilling: boolean;
}) {
  // The billing provider route answers only when BILLING suspended the organization (unpaid invoice):
  // then an owner can pay from here. An administrator's suspension refuses it too.
  const provider = useBillingProvider(slug);
  if (provider.isPending) return <Loading what="the organization" />;
  if (provider.data?.provider === 'stripe') return <UnpaidSuspended name={name} slug={slug} />;
  return (
    <Stack align="flex-start">
      <Alert color="orange" title="This organization is suspended" role="alert">
        <Text size="sm">
          {forBilling
            ? `${name} has been suspended because a payment failed and the grace period ended. Its data is kept, but nobody can use it until an owner pays the unpaid invoice. Ask an owner of this organization, or choose another organization in the switcher above.`
            : `${name} has been suspended by the platform's administrators. Its data is kept, but nobody can use it until it is reactivated. Contact your administrator or the platform's support, or choose another organization in the switcher above.`}
        </Text>
      </Alert>
    </Stack>
  );
}

function UnpaidSuspended({ name, slug }: { readonly name: string; readonly slug: string }) {
  const portal = useCreatePortalSession(slug);
  return (
    <Stack align="flex-start">
      <Alert color="red" title="This organization is suspended for an unpaid invoice" role="alert">
        <Text size="sm">
          {name} was suspended because a payment failed and the grace period ended. Its data is kept. An owner
          can pay the open invoice or update the payment method in Stripe's billing portal; the organization
          is reactivated as soon as Stripe confirms the payment.
        </Text>
      </Alert>
      <Button
        loading={portal.isPending}
        onClick={() => portal.mutate(undefined, { onSuccess: (r) => window.location.assign(r.url) })}
      >
        Pay / update payment method
      </Button>
      {portal.error ? (
        <Text size="sm" c="red" role="alert">
          {isApiError(portal.error, 403)
            ? 'Only an owner can pay for the organization.'
            : describeError(portal.error)}
        </Text>
      ) : null}
    </Stack>
  );
}

function OrgNotFound() {
  return (
    <Stack align="flex-start">
      <Alert color="gray" title="Organization not found" role="alert">
        <Text size="sm">There is no organization at this address, or you are not a member of it.</Text>
      </Alert>
      <Button component={Link} to="/">
        Go to your organization
      </Button>
    </Stack>
  );
}
