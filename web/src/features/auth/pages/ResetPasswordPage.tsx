import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, PasswordInput, Stack, Text } from '@mantine/core';
import { Link, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { isApiError } from '../../../api/errors';
import { useConfirmPasswordReset } from '../api/confirmPasswordReset';

/** `/reset-password?token=…` (the mailed link): a new password; every session of the account ends. */
export default function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const confirm = useConfirmPasswordReset();
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const errors = fieldErrorsOf(confirm.error, { AUTH_PASSWORD_WEAK: 'password' });
  const badLink = !token || isApiError(confirm.error, 400, 'AUTH_TOKEN_INVALID');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (password !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    confirm.mutate({ token, password });
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
          <PasswordInput
            label="New password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={errors.password}
            // PasswordInput draws the error but does not mark its input invalid for assistive technology.
            aria-invalid={errors.password ? true : undefined}
          />
          <PasswordInput
            label="Repeat the new password"
            autoComplete="new-password"
            required
            value={repeat}
            onChange={(e) => setRepeat(e.currentTarget.value)}
            error={mismatch ? 'The two passwords differ' : undefined}
            aria-invalid={mismatch || undefined}
          />
          <Button type="submit" loading={confirm.isPending}>
            Change password
          </Button>
        </Stack>
      </form>
    </AuthLayout>
  );
}
