import { useState, type FormEvent } from 'react';
import { Alert, Button, Divider, Group, Modal, Stack, Text, Title } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useDisableTwoFactor } from '../api/disableTwoFactor';
import { useRegenerateRecoveryCodes } from '../api/regenerateRecoveryCodes';
import { CODE_FIELD_ERRORS, CodeField } from './CodeField';

const CODE_HELP = 'From your authenticator app, or one of your recovery codes';

/** Two-factor is on: new recovery codes (shown once), or turning it off after confirmation. */
export function ManageTwoFactor({ onRegenerated }: { readonly onRegenerated: (codes: string[]) => void }) {
  const regenerate = useRegenerateRecoveryCodes();
  const [code, setCode] = useState('');
  const [disabling, setDisabling] = useState(false);
  const errors = fieldErrorsOf(regenerate.error, CODE_FIELD_ERRORS);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    regenerate.mutate(code.trim(), { onSuccess: (r) => onRegenerated(r.recoveryCodes) });
  };
  return (
    <Stack gap="lg">
      <Alert color="green" title="Two-factor authentication is on" role="status">
        Every sign-in to your account asks for a code from your authenticator app (or a recovery code).
      </Alert>
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            New recovery codes
          </Title>
          <Text size="sm">
            Lost your recovery codes, or used most of them? Generate ten new ones: the old ones stop working.
          </Text>
          <FormError error={regenerate.error} fields={['code']} fieldErrors={errors} />
          <CodeField
            value={code}
            onChange={setCode}
            error={errors.code}
            description={CODE_HELP}
            allowRecovery
          />
          <Button type="submit" loading={regenerate.isPending} style={{ alignSelf: 'flex-start' }}>
            Generate new recovery codes
          </Button>
        </Stack>
      </form>
      <Divider />
      <Stack gap="sm" align="flex-start">
        <Title order={2} size="h4">
          Turn off two-factor authentication
        </Title>
        <Text size="sm">
          Your password alone will sign you in again. Organizations that require two-factor authentication
          will turn you away until you set it up again.
        </Text>
        <Button color="red" variant="light" onClick={() => setDisabling(true)}>
          Turn off two-factor authentication
        </Button>
      </Stack>
      <DisableModal open={disabling} onClose={() => setDisabling(false)} />
    </Stack>
  );
}

function DisableModal({ open, onClose }: { readonly open: boolean; readonly onClose: () => void }) {
  const disable = useDisableTwoFactor();
  const [code, setCode] = useState('');
  const errors = fieldErrorsOf(disable.error, CODE_FIELD_ERRORS);
  const close = () => {
    disable.reset();
    setCode('');
    onClose();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    disable.mutate(code.trim(), { onSuccess: close });
  };
  return (
    <Modal opened={open} onClose={close} title="Turn off two-factor authentication">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Text size="sm">
            Enter a current code to confirm. Every other session of your account will be signed out, and the
            API tokens you obtained stop working.
          </Text>
          <FormError error={disable.error} fields={['code']} fieldErrors={errors} />
          <CodeField
            value={code}
            onChange={setCode}
            error={errors.code}
            description={CODE_HELP}
            allowRecovery
            autoFocus
          />
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" color="red" loading={disable.isPending}>
              Turn off
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
