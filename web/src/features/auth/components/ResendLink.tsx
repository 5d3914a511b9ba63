import { Alert, Anchor, Button, Stack, Text } from '@mantine/core';
import { Link } from 'react-router';
import { Loading } from '../../../components/QueryState';
import { describeError } from '../../../api/errors';
import { useMe } from '../api/me';
import { useResendVerification } from '../api/resendVerification';

/** A new verification link: sent to the signed-in user; a signed-out person signs in first. */
export function ResendLink() {
  const me = useMe();
  const resend = useResendVerification();
  if (me.isPending) return <Loading what="your account" />;
  if (!me.data) {
    return (
      <Text size="sm">
        <Anchor component={Link} to="/sign-in">
          Sign in
        </Anchor>{' '}
        to get a new verification link.
      </Text>
    );
  }
  if (resend.isSuccess) {
    return (
      <Alert color="blue" role="status">
        We sent a new link to {me.data.user.email}.
      </Alert>
    );
  }
  return (
    <Stack gap="xs" align="flex-start">
      {resend.error ? (
        <Alert color="red" role="alert">
          {describeError(resend.error)}
        </Alert>
      ) : null}
      <Button variant="light" loading={resend.isPending} onClick={() => resend.mutate()}>
        Send a new link to {me.data.user.email}
      </Button>
    </Stack>
  );
}
