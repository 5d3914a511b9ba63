import { TextInput } from '@mantine/core';

/**
 * The field of a code from the authenticator app (or, where accepted, a recovery code), with the server's
 * refusal drawn next to it.
 */
export function CodeField({
  label = 'Authentication code',
  description,
  value,
  onChange,
  error,
  allowRecovery = false,
  autoFocus = false,
}: {
  readonly label?: string;
  readonly description?: string;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly error?: string | undefined;
  /** Recovery codes (letters and dashes) are accepted too. */
  readonly allowRecovery?: boolean;
  readonly autoFocus?: boolean;
}) {
  return (
    <TextInput
      label={label}
      description={description}
      autoComplete="one-time-code"
      inputMode={allowRecovery ? 'text' : 'numeric'}
      spellCheck={false}
      required
      data-autofocus={autoFocus || undefined}
      value={value}
      onChange={(e) => onChange(e.currentTarget.value)}
      error={error}
      maw={320}
    />
  );
}

/** Server codes that are about the code field. */
export const CODE_FIELD_ERRORS = { TWO_FACTOR_CODE_INVALID: 'code' } as const;
