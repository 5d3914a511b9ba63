import { useState, type FormEvent } from 'react';
import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from '@mantine/core';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { AuthLayout } from '../../../components/AuthLayout';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { safeNext } from '../../../lib/base-path';
import { notify } from '../../../components/notify';
import { useLogin } from '../api/login';
import { useVerifyTwoFactor } from '../api/verifyTwoFactor';
import { ContinueWithSso } from '../../sso/components/ContinueWithSso';

/** Sign in: email and password, then the second factor (TOTP or a recovery code) when the account has one. */
export default function SignInPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get('next'));
  const [step, setStep] = useState<'password' | 'second-factor'>(
    params.get('step') === 'second-factor' ? 'second-factor' : 'password',
  );
  const done = () => void navigate(next, { replace: true });
  const query = next === '/' ? '' : `?next=${encodeURIComponent(next)}`;
  return (
    <AuthLayout
      title={step === 'password' ? 'Sign in' : 'Two-factor authentication'}
      footer={
        step === 'password' ? (
          <>
            New here?{' '}
            <Anchor component={Link} to={`/sign-up${query}`}>
              Create an account
            </Anchor>
          </>
        ) : undefined
      }
    >
      {step === 'password' ? (
        <Stack gap="md">
          <PasswordStep onSignedIn={done} onSecondFactor={() => setStep('second-factor')} />
          <ContinueWithSso />
        </Stack>
      ) : (
        <SecondFactorStep onVerified={done} />
      )}
    </AuthLayout>
  );
}

function PasswordStep({
  onSignedIn,
  onSecondFactor,
}: {
  readonly onSignedIn: () => void;
  readonly onSecondFactor: () => void;
}) {
  const login = useLogin();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const errors = fieldErrorsOf(login.error, {});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate(
      { email, password },
      { onSuccess: (data) => (data.twoFactorRequired ? onSecondFactor() : onSignedIn()) },
    );
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <FormError error={login.error} fields={['email', 'password']} fieldErrors={errors} />
        <TextInput
          label="Email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.currentTarget.value)}
          error={errors.email}
        />
        <PasswordInput
          label="Password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={errors.password}
        />
        <Button type="submit" loading={login.isPending}>
          Sign in
        </Button>
        <Anchor component={Link} to="/forgot-password" size="sm">
          Forgot your password?
        </Anchor>
      </Stack>
    </form>
  );
}

function SecondFactorStep({ onVerified }: { readonly onVerified: () => void }) {
  const verify = useVerifyTwoFactor();
  const [recovery, setRecovery] = useState(false);
  const [code, setCode] = useState('');
  const errors = fieldErrorsOf(verify.error, { TWO_FACTOR_CODE_INVALID: 'code' });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    verify.mutate(code.trim(), {
      onSuccess: (r) => {
        // A recovery code is used up: say how many are left, and where new ones come from.
        if (r.method === 'recovery_code') {
          // No title: a titled notification's text is gray-6, short of the 4.5:1 contrast.
          notify({
            message: `You signed in with a recovery code, which cannot be used again: ${r.recoveryCodesRemaining} recovery codes left. Generate new ones under Account → Two-factor authentication.`,
            color: r.recoveryCodesRemaining <= 3 ? 'orange' : 'blue',
            autoClose: 15_000,
          });
        }
        onVerified();
      },
    });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <Text size="sm">
          {recovery
            ? 'Enter one of the recovery codes you saved when you turned on two-factor authentication.'
            : 'Enter the 6-digit code from your authenticator app.'}
        </Text>
        <FormError error={verify.error} fields={['code']} fieldErrors={errors} />
        <TextInput
          key={recovery ? 'recovery' : 'totp'}
          label={recovery ? 'Recovery code' : 'Authentication code'}
          autoComplete="one-time-code"
          inputMode={recovery ? 'text' : 'numeric'}
          required
          value={code}
          onChange={(e) => setCode(e.currentTarget.value)}
          error={errors.code}
        />
        <Button type="submit" loading={verify.isPending}>
          Verify
        </Button>
        <Anchor
          component="button"
          type="button"
          size="sm"
          onClick={() => {
            setRecovery((r) => !r);
            setCode('');
            verify.reset();
          }}
        >
          {recovery ? 'Use your authenticator app' : 'Use a recovery code instead'}
        </Anchor>
      </Stack>
    </form>
  );
}
