import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Divider, PasswordInput, Stack, Text, TextInput } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { Loading } from '../../../components/QueryState';
import { describeError, isApiError } from '../../../api/errors';
import { forgetSession, useMe } from '../../auth/api/me';
import { useLogout } from '../../auth/api/logout';
import { myOrganizationsQueryOptions } from '../../organizations/api/listMyOrganizations';
import { useAcceptInvitation } from '../api/acceptInvitation';
import { useAcceptInvitationAsNewUser } from '../api/acceptInvitationAsNewUser';
import { invitationLookupQueryOptions, useInvitationLookup } from '../api/lookupInvitation';
import { InvitationProblem, STATUS_PROBLEM, invitationProblem } from '../components/InvitationProblem';

const TITLE = 'Join the organization';

type Preview = NonNullable<ReturnType<typeof useInvitationLookup>['data']>;

/**
 * `/accept-invitation?token=…` (the mailed link). The link is looked up first (organization, invited
 * address, role, expiry, status). Signed in with the invited address: accept. Signed in with another:
 * "this invitation is for x@…" and sign out. Signed out: create the account for the invited address
 * (shown, fixed) and join, or sign in first. An expired, revoked or used invitation says so.
 */
export default function AcceptInvitationPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const me = useMe();
  const lookup = useInvitationLookup(token);
  if (!token) {
    return (
      <AuthLayout title={TITLE}>
        <Alert color="red" role="alert" title="This link is incomplete">
          Open the whole link from the invitation mail.
        </Alert>
      </AuthLayout>
    );
  }
  if (me.isPending || lookup.isPending) {
    return (
      <AuthLayout title={TITLE}>
        <Loading what="the invitation" />
      </AuthLayout>
    );
  }
  const signedIn = Boolean(me.data);
  if (lookup.isError) {
    return (
      <AuthLayout title={TITLE}>
        <InvitationProblem error={lookup.error} signedIn={signedIn} />
      </AuthLayout>
    );
  }
  const inv = lookup.data;
  const problem = STATUS_PROBLEM[inv.status];
  return (
    <AuthLayout title={TITLE}>
      {problem ? (
        <InvitationProblem code={problem} signedIn={signedIn} />
      ) : (
        <>
          <Text size="sm">
            You are invited to join <strong>{inv.organizationName}</strong> as <strong>{inv.role}</strong>.
            The invitation is valid until {new Date(inv.expiresAt).toLocaleString()}.
          </Text>
          {me.data ? (
            <SignedIn token={token} invitation={inv} email={me.data.user.email} />
          ) : (
            <SignedOut token={token} invitation={inv} />
          )}
        </>
      )}
    </AuthLayout>
  );
}

/** After joining: the organization, found in the user's list by id. */
function useOpenOrganization(token: string) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return async (organizationId: string) => {
    const orgs = await qc.fetchQuery({ ...myOrganizationsQueryOptions(), staleTime: 0 });
    const org = orgs.find((o) => o.id === organizationId);
    await navigate(org ? `/o/${org.slug}/projects` : '/', { replace: true });
    // Used now: a later visit of the link reads it afresh.
    qc.removeQueries({ queryKey: invitationLookupQueryOptions(token).queryKey });
  };
}

const sameAddress = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

function SignedIn({
  token,
  invitation,
  email,
}: {
  readonly token: string;
  readonly invitation: Preview;
  readonly email: string;
}) {
  const accept = useAcceptInvitation();
  const logout = useLogout();
  const qc = useQueryClient();
  const open = useOpenOrganization(token);
  const mismatch = isApiError(accept.error, 403, 'INVITATION_EMAIL_MISMATCH');
  if (!sameAddress(invitation.email, email) || mismatch) {
    return (
      <Stack gap="sm">
        <Alert color="yellow" role="alert" title="This invitation is for another address">
          This invitation is for <strong className="break-anywhere">{invitation.email}</strong>, and you are
          signed in as <strong className="break-anywhere">{email}</strong>. Sign out, then accept it with that
          address.
        </Alert>
        <Button
          loading={logout.isPending}
          onClick={() => logout.mutate(undefined, { onSettled: () => forgetSession(qc) })}
        >
          Sign out
        </Button>
      </Stack>
    );
  }
  if (invitationProblem(accept.error)) return <InvitationProblem error={accept.error} signedIn />;
  return (
    <Stack gap="sm">
      <Text size="sm">
        You are signed in as <strong>{email}</strong>.
      </Text>
      {accept.error ? (
        <Alert color="red" role="alert">
          {describeError(accept.error)}
        </Alert>
      ) : null}
      <Button
        loading={accept.isPending}
        onClick={() => accept.mutate(token, { onSuccess: (r) => void open(r.organizationId) })}
      >
        Accept invitation
      </Button>
    </Stack>
  );
}

function SignedOut({ token, invitation }: { readonly token: string; readonly invitation: Preview }) {
  const acceptNew = useAcceptInvitationAsNewUser();
  const open = useOpenOrganization(token);
  const [password, setPassword] = useState('');
  const here = `/accept-invitation?token=${encodeURIComponent(token)}`;
  const signIn = `/sign-in?next=${encodeURIComponent(here)}`;
  const errors = fieldErrorsOf(acceptNew.error, { AUTH_PASSWORD_WEAK: 'password' });
  if (invitationProblem(acceptNew.error))
    return <InvitationProblem error={acceptNew.error} signedIn={false} />;
  if (isApiError(acceptNew.error, 409, 'AUTH_EMAIL_TAKEN')) {
    return (
      <Stack gap="sm">
        <Alert color="blue" role="status" title="You already have an account">
          An account exists for {invitation.email}. Sign in with it to accept the invitation.
        </Alert>
        <Button component={Link} to={signIn}>
          Sign in to accept
        </Button>
      </Stack>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    acceptNew.mutate({ token, password }, { onSuccess: (r) => void open(r.organizationId) });
  };
  return (
    <Stack gap="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Text size="sm">
            New here? Choose a password: your account is created for the invited address and you join right
            away.
          </Text>
          <FormError error={acceptNew.error} fields={['password']} fieldErrors={errors} />
          <TextInput
            label="Email"
            description="The invitation was sent to this address; the account is created for it."
            value={invitation.email}
            readOnly
            autoComplete="username"
          />
          <PasswordInput
            label="Password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={errors.password}
          />
          <Button type="submit" loading={acceptNew.isPending}>
            Create account and join
          </Button>
        </Stack>
      </form>
      <Divider label="or" labelPosition="center" />
      <Text size="sm" ta="center">
        Already have an account?{' '}
        <Anchor component={Link} to={signIn}>
          Sign in to accept
        </Anchor>
      </Text>
    </Stack>
  );
}
