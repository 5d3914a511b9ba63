import { useState, type FormEvent } from 'react';
import { Alert, Button, PasswordInput, Stack } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { NewPasswordFields, useNewPassword } from '../../../components/NewPasswordFields';
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
  const next = useNewPassword();
  const errors = fieldErrorsOf(change.error, FIELD_OF_CODE);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!next.check()) return;
    change.mutate(
      { currentPassword: current, newPassword: next.password },
      {
        onSuccess: () => {
          setCurrent('');
          next.clear();
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
          <NewPasswordFields state={next} error={errors.newPassword} />
          <Button type="submit" loading={change.isPending} style={{ alignSelf: 'flex-start' }}>
            Change password
          </Button>
        </Stack>
      </form>
    </AccountSection>
  );
}
