import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, PasswordInput, Stack, Text, TextInput } from '@mantine/core';
import { Link, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { safeNext } from '../../../lib/base-path';
import { useRegister } from '../api/register';

/** Sign up, then "check your mail": the mailed link verifies the address and signs the person in. */
export default function SignUpPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const query = next === '/' ? '' : `?next=${encodeURIComponent(next)}`;
  const register = useRegister();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const errors = fieldErrorsOf(register.error, {
    AUTH_EMAIL_INVALID: 'email',
    AUTH_PASSWORD_WEAK: 'password',
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    register.mutate({ email, password, ...(name.trim() ? { name: name.trim() } : {}) });
  };
  if (register.isSuccess) {
    return (
      <AuthLayout title="Check your mail">
        <Alert color="blue" role="status" title="One more step">
          We sent a link to <strong>{email}</strong>. Open it to verify your address and sign in.
        </Alert>
        <Text size="sm">
          No mail after a few minutes? Check your spam folder, or{' '}
          <Anchor component="button" type="button" onClick={() => register.reset()}>
            try again
          </Anchor>
          .
        </Text>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout
      title="Create your account"
      footer={
        <>
          Already have an account?{' '}
          <Anchor component={Link} to={`/sign-in${query}`}>
            Sign in
          </Anchor>
        </>
      }
    >
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <FormError error={register.error} fields={['email', 'password', 'name']} fieldErrors={errors} />
          <TextInput
            label="Name"
            description="Optional"
            autoComplete="name"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.name}
          />
          <TextInput
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={errors.email}
          />
          <PasswordInput
            label="Password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={errors.password}
          />
          <Button type="submit" loading={register.isPending}>
            Create account
          </Button>
        </Stack>
      </form>
    </AuthLayout>
  );
}
