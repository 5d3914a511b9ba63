import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Divider, PasswordInput, Stack, Text } from '@mantine/core';
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

/** What a person reads when the invitation itself cannot be used. */
const PROBLEMS: Readonly<Record<string, string>> = {
  INVITATION_EXPIRED:
    'This invitation has expired. Ask an administrator of the organization to send you a new one.',
  INVITATION_REVOKED: 'This invitation was withdrawn by the organization.',
  INVITATION_ALREADY_ACCEPTED: 'This invitation was already used. Sign in to open the organization.',
  INVITATION_NOT_FOUND:
    'This invitation does not exist, or a newer invitation replaced it: open the latest mail.',
};

function invitationProblem(err: unknown): string | null {
  if (!isApiError(err)) return null;
  if (PROBLEMS[err.code]) return PROBLEMS[err.code]!;
  if (err.code === 'INVITATION_ROLE_REMOVED') return err.message;
  return null;
}

/**
 * `/accept-invitation?token=…` (the mailed link). Signed in: accept, or read which address the
 * invitation is for and sign out. Signed out: create the account for the invited address (fixed by the
 * invitation) and join, or sign in first. An expired, revoked or used invitation says so.
 */
export default function AcceptInvitationPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const me = useMe();
  if (!token) {
    return (
      <AuthLayout title="Invitation">
        <Alert color="red" role="alert" title="This link is incomplete">
          Open the whole link from the invitation mail.
        </Alert>
      </AuthLayout>
    );
  }
  if (me.isPending) {
    return (
      <AuthLayout title="Invitation">
        <Loading what="your account" />
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Join the organization">
      {me.data ? <SignedIn token={token} email={me.data.user.email} /> : <SignedOut token={token} />}
    </AuthLayout>
  );
}

/** After joining: the organization, found in the user's list by id. */
function useOpenOrganization() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return async (organizationId: string) => {
    const orgs = await qc.fetchQuery({ ...myOrganizationsQueryOptions(), staleTime: 0 });
    const org = orgs.find((o) => o.id === organizationId);
    void navigate(org ? `/o/${org.slug}/projects` : '/', { replace: true });
  };
}

function SignedIn({ token, email }: { readonly token: string; readonly email: string }) {
  const accept = useAcceptInvitation();
  const logout = useLogout();
  const qc = useQueryClient();
  const open = useOpenOrganization();
  const problem = invitationProblem(accept.error);
  if (isApiError(accept.error, 403, 'INVITATION_EMAIL_MISMATCH')) {
    const invited = accept.error.details.invitedEmail;
    return (
      <Stack gap="sm">
        <Alert color="yellow" role="alert" title="This invitation is for another address">
          This invitation is for <strong>{typeof invited === 'string' ? invited : 'another address'}</strong>,
          and you are signed in as <strong>{email}</strong>. Sign out, then accept it with that address.
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
  if (problem) {
    return (
      <Alert color="red" role="alert" title="This invitation cannot be used">
        {problem}
      </Alert>
    );
  }
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

function SignedOut({ token }: { readonly token: string }) {
  const acceptNew = useAcceptInvitationAsNewUser();
  const open = useOpenOrganization();
  const [password, setPassword] = useState('');
  const here = `/accept-invitation?token=${encodeURIComponent(token)}`;
  const signIn = `/sign-in?next=${encodeURIComponent(here)}`;
  const problem = invitationProblem(acceptNew.error);
  const errors = fieldErrorsOf(acceptNew.error, { AUTH_PASSWORD_WEAK: 'password' });
  if (problem) {
    return (
      <Alert color="red" role="alert" title="This invitation cannot be used">
        {problem}
      </Alert>
    );
  }
  if (isApiError(acceptNew.error, 409, 'AUTH_EMAIL_TAKEN')) {
    return (
      <Stack gap="sm">
        <Alert color="blue" role="status" title="You already have an account">
          An account exists for the invited address. Sign in with it to accept the invitation.
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
            New here? Choose a password: your account is created for the address this invitation was sent to,
            and you join the organization right away.
          </Text>
          <FormError error={acceptNew.error} fields={['password']} fieldErrors={errors} />
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
