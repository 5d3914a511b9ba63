import { useState, type FormEvent } from 'react';
import { Button, Group, Modal, Select, Stack, Text, TextInput } from '@mantine/core';
import { notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import type { Member } from '../api/listMembers';
import { useTransferOwnership } from '../api/transferOwnership';
import { Refusal } from './Refusal';

/**
 * Owner only: makes an active member owner and the caller admin. Confirmed by typing the organization's
 * slug, since the caller gives up the owner's powers (deleting the organization, billing).
 */
export function TransferOwnershipModal({
  open,
  members,
  myUserId,
  onClose,
}: {
  readonly open: boolean;
  readonly members: readonly Member[];
  readonly myUserId: string | undefined;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const transfer = useTransferOwnership(org.slug);
  const [to, setTo] = useState<string | null>(null);
  const [typed, setTyped] = useState('');
  const close = () => {
    transfer.reset();
    setTo(null);
    setTyped('');
    onClose();
  };
  const candidates = members
    .filter((m) => m.status === 'active' && m.userId !== myUserId)
    .map((m) => ({ value: m.userId, label: `${m.email} (${m.role})` }));
  const confirmed = typed.trim() === org.slug;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!to || !confirmed) return;
    transfer.mutate(to, {
      onSuccess: (r) => {
        notifySuccess(`${r.newOwner.email} now owns ${org.name}; you are an admin`);
        close();
      },
    });
  };
  return (
    <Modal opened={open} onClose={close} title="Transfer ownership">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Text size="sm">
            The member you choose becomes an owner of <strong>{org.name}</strong> and you become an admin: you
            will no longer be able to delete the organization or manage billing.
          </Text>
          <Refusal error={transfer.error} />
          <Select
            label="New owner"
            description="Only active members can own the organization."
            placeholder={candidates.length ? 'Choose a member' : 'No other active member'}
            data={candidates}
            value={to}
            onChange={setTo}
            searchable
            required
            nothingFoundMessage="No active member matches"
            comboboxProps={{ withinPortal: true }}
          />
          <TextInput
            label={`Type ${org.slug} to confirm`}
            autoComplete="off"
            required
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
          />
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" color="red" loading={transfer.isPending} disabled={!to || !confirmed}>
              Transfer ownership
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
