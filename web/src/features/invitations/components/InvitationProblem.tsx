import { Alert, Button, Stack } from '@mantine/core';
import { Link } from 'react-router';
import { describeError, isApiError } from '../../../api/errors';

/** What a person reads when the invitation itself cannot be used. */
const PROBLEMS: Readonly<Record<string, string>> = {
  INVITATION_EXPIRED:
    'This invitation has expired. Ask an administrator of the organization to send you a new one.',
  INVITATION_REVOKED: 'This invitation was withdrawn by the organization.',
  INVITATION_ALREADY_ACCEPTED: 'This invitation was already used. Sign in to open the organization.',
  INVITATION_NOT_FOUND:
    'This invitation does not exist, or a newer invitation replaced it: open the latest mail.',
};

/** The status the lookup answers, as the refusal accepting would get. */
export const STATUS_PROBLEM: Readonly<Record<string, string>> = {
  expired: 'INVITATION_EXPIRED',
  revoked: 'INVITATION_REVOKED',
  accepted: 'INVITATION_ALREADY_ACCEPTED',
};

/** The sentence for an unusable invitation (by refusal code), or null for any other error. */
export function invitationProblem(err: unknown): string | null {
  if (!isApiError(err)) return null;
  if (PROBLEMS[err.code]) return PROBLEMS[err.code]!;
  if (err.code === 'INVITATION_ROLE_REMOVED') return err.message;
  return null;
}

/** An invitation that cannot be used (by code), or any other error, with a way on. */
export function InvitationProblem({
  code,
  error,
  signedIn,
}: {
  readonly code?: string;
  readonly error?: unknown;
  readonly signedIn: boolean;
}) {
  const text = (code ? PROBLEMS[code] : undefined) ?? invitationProblem(error) ?? describeError(error);
  return (
    <Stack gap="sm">
      <Alert color="red" role="alert" title="This invitation cannot be used">
        {text}
      </Alert>
      <Button component={Link} to={signedIn ? '/' : '/sign-in'} variant="light">
        {signedIn ? 'Go to the console' : 'Sign in'}
      </Button>
    </Stack>
  );
}
