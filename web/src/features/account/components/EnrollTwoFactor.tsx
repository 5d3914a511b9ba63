import { useState, type FormEvent } from 'react';
import { Alert, Button, Code, CopyButton, Group, Image, Stack, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useBeginTwoFactorEnrollment } from '../api/beginTwoFactorEnrollment';
import { useConfirmTwoFactorEnrollment } from '../api/confirmTwoFactorEnrollment';
import { CODE_FIELD_ERRORS, CodeField } from './CodeField';
import '../account.css';

/** The secret in groups of four, easier to type into an app by hand. */
const grouped = (secret: string) => secret.replace(/(.{4})(?=.)/g, '$1 ');

/**
 * Enrolment: "Set up" asks the server for a secret (pending until confirmed), shown as a QR code and as
 * text to type in; a code from the app turns two-factor on and hands back the recovery codes.
 */
export function EnrollTwoFactor({ onEnrolled }: { readonly onEnrolled: (codes: string[]) => void }) {
  const begin = useBeginTwoFactorEnrollment();
  const confirm = useConfirmTwoFactorEnrollment();
  const [code, setCode] = useState('');
  const enrollment = begin.data;
  const errors = fieldErrorsOf(confirm.error, CODE_FIELD_ERRORS);
  const restart = () => {
    confirm.reset();
    setCode('');
    begin.mutate();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    confirm.mutate(code.replace(/\s/g, ''), { onSuccess: (r) => onEnrolled(r.recoveryCodes) });
  };
  if (!enrollment) {
    return (
      <Stack gap="sm" align="flex-start">
        <Text size="sm">
          You will need an authenticator app on your phone or computer (for example 1Password, Google
          Authenticator, Microsoft Authenticator or Aegis). Nothing changes for your sign-in until you enter a
          code from it.
        </Text>
        {begin.error ? (
          <Alert color="red" role="alert" title="That did not work">
            {describeError(begin.error)}
          </Alert>
        ) : null}
        <Button loading={begin.isPending} onClick={() => begin.mutate()}>
          Set up two-factor authentication
        </Button>
      </Stack>
    );
  }
  return (
    <Stack gap="lg">
      <Stack gap="xs">
        <Title order={2} size="h4">
          1. Add your account to the app
        </Title>
        <Text size="sm">Scan this QR code with your authenticator app.</Text>
        <Image
          src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrollment.qrSvg)}`}
          alt="QR code to add your SaaSReady account to an authenticator app"
          className="two-factor-qr"
          w={200}
          h={200}
          fit="contain"
        />
        <Text size="sm">Or, if you cannot scan it, type this key into the app:</Text>
        <Group gap="sm" wrap="wrap">
          <Code className="two-factor-secret">{grouped(enrollment.secret)}</Code>
          <CopyButton value={enrollment.secret}>
            {({ copied, copy }) => (
              <Button size="compact-sm" variant="default" onClick={copy}>
                {copied ? 'Key copied' : 'Copy key'}
              </Button>
            )}
          </CopyButton>
        </Group>
      </Stack>
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            2. Enter the code the app shows
          </Title>
          <FormError error={confirm.error} fields={['code']} fieldErrors={errors} />
          <CodeField value={code} onChange={setCode} error={errors.code} description="6 digits" />
          <Group gap="sm">
            <Button type="submit" loading={confirm.isPending}>
              Turn on two-factor authentication
            </Button>
            <Button variant="subtle" onClick={restart} loading={begin.isPending}>
              Start over with a new key
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
