import { useState } from 'react';
import { PasswordInput } from '@mantine/core';

/** A new password typed twice: both values, and the check that they are the same before submitting. */
export function useNewPassword() {
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  return {
    password,
    repeat,
    setPassword,
    setRepeat,
    /** True once a submit found the two different (drawn as "The two passwords differ"). */
    mismatch,
    /** Whether the two are the same; when not, the repeat field says so until the next check. */
    check: () => {
      const same = password === repeat;
      setMismatch(!same);
      return same;
    },
    clear: () => {
      setPassword('');
      setRepeat('');
    },
  };
}

/**
 * "New password" and "Repeat the new password". PasswordInput draws an error but does not mark its input
 * invalid for assistive technology, so `aria-invalid` is set here.
 */
export function NewPasswordFields({
  state,
  error,
}: {
  readonly state: ReturnType<typeof useNewPassword>;
  /** The server's refusal of the new password (too weak, unchanged…). */
  readonly error?: string | undefined;
}) {
  return (
    <>
      <PasswordInput
        label="New password"
        autoComplete="new-password"
        required
        value={state.password}
        onChange={(e) => state.setPassword(e.currentTarget.value)}
        error={error}
        aria-invalid={error ? true : undefined}
      />
      <PasswordInput
        label="Repeat the new password"
        autoComplete="new-password"
        required
        value={state.repeat}
        onChange={(e) => state.setRepeat(e.currentTarget.value)}
        error={state.mismatch ? 'The two passwords differ' : undefined}
        aria-invalid={state.mismatch || undefined}
      />
    </>
  );
}
