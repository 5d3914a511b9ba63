import type { FormEvent } from 'react';
import { Alert, Anchor, Button, Stack, Text } from '@mantine/core';
import { Link, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { NewPasswordFields, useNewPassword } from '../../../components/NewPasswordFields';
import { isApiError } from '../../../api/errors';
import { useConfirmPasswordReset } from '../api/confirmPasswordReset';

/** `/reset-password?token=…` (the mailed link): a new password; every session of the account ends. */
export default function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const confirm = useConfirmPasswordReset();
  const password = useNewPassword();
  const errors = fieldErrorsOf(confirm.error, { AUTH_PASSWORD_WEAK: 'password' });
  const badLink = !token || isApiError(confirm.error, 400, 'AUTH_TOKEN_INVALID');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!password.check()) return;
    confirm.mutate({ token, password: password.password });
  };
  const back = (
    <Anchor component={Link} to="/sign-in">
      Back to sign in
    </Anchor>
  );
  if (confirm.isSuccess) {
    return (
      <AuthLayout title="Password changed">
        <Alert color="green" role="status">
          Your password was changed and every session of your account was signed out.
        </Alert>
        <Button component={Link} to="/sign-in">
          Sign in
        </Button>
      </AuthLayout>
    );
  }
  if (badLink) {
    return (
      <AuthLayout title="Reset your password" footer={back}>
        <Alert color="red" role="alert" title="This link does not work">
          {token
            ? 'This reset link is invalid, was already used, or has expired.'
            : 'This reset link is incomplete: open the whole link from the mail.'}
        </Alert>
        <Text size="sm">
          <Anchor component={Link} to="/forgot-password">
            Request a new link
          </Anchor>
        </Text>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Choose a new password" footer={back}>
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <FormError error={confirm.error} fields={['password']} fieldErrors={errors} />
          <NewPasswordFields state={password} error={errors.password} />
          <Button type="submit" loading={confirm.isPending}>
            Change password
          </Button>
        </Stack>
      </form>
    </AuthLayout>
  );
}
