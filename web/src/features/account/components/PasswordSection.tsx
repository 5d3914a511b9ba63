import { useState, type FormEvent } from 'react';
import { Alert, Button, PasswordInput, Stack } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useChangePassword } from '../api/changePassword';
import { AccountSection } from './AccountSection';

const FIELD_OF_CODE = {
  AUTH_PASSWORD_INCORRECT: 'currentPassword',
  AUTH_PASSWORD_WEAK: 'newPassword',
  AUTH_PASSWORD_UNCHANGED: 'newPassword',
};

/**
 * Current password and a new one; on success every other session of the account is signed out.
 * (PasswordInput draws an error but does not mark its input invalid: `aria-invalid` is set here.)
 */
export function PasswordSection() {
  const change = useChangePassword();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const errors = fieldErrorsOf(change.error, FIELD_OF_CODE);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (next !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    change.mutate(
      { currentPassword: current, newPassword: next },
      {
        onSuccess: () => {
          setCurrent('');
          setNext('');
          setRepeat('');
        },
      },
    );
  };
  return (
    <AccountSection
      id="password"
      title="Password"
      description="At least 10 characters; common passwords and your email address are refused."
    >
      {change.isSuccess ? (
        <Alert color="green" role="status" title="Password changed">
          Every other session of your account was signed out: sign in there again with the new password. This
          browser stays signed in.
        </Alert>
      ) : null}
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <FormError error={change.error} fields={['currentPassword', 'newPassword']} fieldErrors={errors} />
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={errors.currentPassword}
            aria-invalid={errors.currentPassword ? true : undefined}
          />
          <PasswordInput
            label="New password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.currentTarget.value)}
            error={errors.newPassword}
            aria-invalid={errors.newPassword ? true : undefined}
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
          <Button type="submit" loading={change.isPending} style={{ alignSelf: 'flex-start' }}>
            Change password
          </Button>
        </Stack>
      </form>
    </AccountSection>
  );
}
