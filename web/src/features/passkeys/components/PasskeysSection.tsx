import { useState, type FormEvent } from 'react';
import { Button, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { AccountSection } from '../../account/components/AccountSection';
import { usePasskeys } from '../api/listPasskeys';
import { useRegisterPasskey } from '../api/registerPasskey';
import { useRemovePasskey } from '../api/removePasskey';
import { useRenamePasskey } from '../api/renamePasskey';

type Passkey = Schemas['Passkey'];

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : 'Never');

/** The account page's passkeys: add one (named), list them with their last use, rename, remove. */
export function PasskeysSection() {
  const passkeys = usePasskeys();
  const [renaming, setRenaming] = useState<Passkey | null>(null);
  const [removing, setRemoving] = useState<Passkey | null>(null);
  return (
    <AccountSection
      id="passkeys"
      title="Passkeys"
      description="Sign in with your device's screen lock or a security key instead of a password. A passkey also counts as your second factor."
    >
      <AddPasskeyForm />
      <ListTable
        query={passkeys}
        what="your passkeys"
        empty={<EmptyState title="No passkeys yet" />}
        striped
        rowKey={(p) => p.id}
        columns={[
          {
            header: 'Name',
            cell: (p) => (
              <>
                <Text size="sm" fw={500} className="break-anywhere">
                  {p.name}
                </Text>
                <Text size="xs" c="dimmed">
                  Added {when(p.createdAt)}
                </Text>
              </>
            ),
          },
          { header: 'Last used', cell: (p) => when(p.lastUsedAt) },
        ]}
        actions={(p) => (
          <Group justify="flex-end" wrap="nowrap" gap="xs">
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Rename passkey ${p.name}`}
              onClick={() => setRenaming(p)}
            >
              Rename
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              color="red"
              aria-label={`Remove passkey ${p.name}`}
              onClick={() => setRemoving(p)}
            >
              Remove
            </Button>
          </Group>
        )}
      />
      <RenamePasskeyModal passkey={renaming} onClose={() => setRenaming(null)} />
      <RemovePasskeyDialog passkey={removing} onClose={() => setRemoving(null)} />
    </AccountSection>
  );
}

function AddPasskeyForm() {
  const register = useRegisterPasskey();
  const [name, setName] = useState('');
  const errors = fieldErrorsOf(register.error, {});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    register.mutate(name.trim(), { onSuccess: () => setName('') });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="xs">
        <FormError error={register.error} fields={['name']} fieldErrors={errors} />
        <Group align="flex-end" gap="sm">
          <TextInput
            label="Device"
            description="What to call the new passkey, for example Work laptop"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.name}
          />
          <Button type="submit" loading={register.isPending} disabled={name.trim() === ''}>
            Add a passkey
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function RenamePasskeyModal({
  passkey,
  onClose,
}: {
  readonly passkey: Passkey | null;
  readonly onClose: () => void;
}) {
  const rename = useRenamePasskey();
  // null until edited: the field starts with the current name.
  const [name, setName] = useState<string | null>(null);
  const errors = fieldErrorsOf(rename.error, {});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (passkey) rename.mutate({ id: passkey.id, name: (name ?? passkey.name).trim() }, { onSuccess: close });
  };
  const close = () => {
    rename.reset();
    setName(null);
    onClose();
  };
  return (
    <Modal opened={passkey !== null} onClose={close} title="Rename passkey">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <FormError error={rename.error} fields={['name']} fieldErrors={errors} />
          <TextInput
            label="New name"
            required
            maxLength={100}
            value={name ?? passkey?.name ?? ''}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.name}
          />
          <Group justify="flex-end">
            <Button type="submit" loading={rename.isPending}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RemovePasskeyDialog({
  passkey,
  onClose,
}: {
  readonly passkey: Passkey | null;
  readonly onClose: () => void;
}) {
  const remove = useRemovePasskey();
  return (
    <ConfirmDialog
      opened={passkey !== null}
      onClose={onClose}
      title="Remove passkey"
      confirmLabel="Remove"
      mutation={remove}
      onConfirm={(close) => passkey && remove.mutate(passkey.id, { onSuccess: close })}
    >
      Remove <strong>{passkey?.name}</strong>? It will no longer sign you in. Remove it from the device too,
      in its password or passkey settings.
    </ConfirmDialog>
  );
}
