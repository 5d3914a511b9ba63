import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Stack, TextInput } from '@mantine/core';
import { Link } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useRequestPasswordReset } from '../api/requestPasswordReset';

/** Forgot password: asks for a reset link (the answer never tells whether the address has an account). */
export default function ForgotPasswordPage() {
  const request = useRequestPasswordReset();
  const [email, setEmail] = useState('');
  const errors = fieldErrorsOf(request.error, {});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    request.mutate(email);
  };
  return (
    <AuthLayout
      title="Reset your password"
      footer={
        <Anchor component={Link} to="/sign-in">
          Back to sign in
        </Anchor>
      }
    >
      {request.isSuccess ? (
        <Alert color="blue" role="status" title="Check your mail">
          If an account exists for <strong>{email}</strong>, we sent it a link to choose a new password.
        </Alert>
      ) : (
        <form onSubmit={submit} noValidate>
          <Stack gap="sm">
            <FormError error={request.error} fields={['email']} fieldErrors={errors} />
            <TextInput
              label="Email"
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.currentTarget.value)}
              error={errors.email}
            />
            <Button type="submit" loading={request.isPending}>
              Send reset link
            </Button>
          </Stack>
        </form>
      )}
    </AuthLayout>
  );
}
