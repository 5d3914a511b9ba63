import { useState, type FormEvent } from 'react';
import { Button, Group, Modal, Stack, Text } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import { useChangeMemberRole } from '../api/changeMemberRole';
import { useRemoveMember } from '../api/removeMember';
import type { Member } from '../api/listMembers';
import { Refusal } from './Refusal';
import { RoleSelect } from './RoleSelect';

/** Gives a member another role; the server's refusal (and the rule behind it) stays in the dialog. */
export function ChangeRoleModal({
  member,
  myUserId,
  onClose,
}: {
  readonly member: Member | null;
  readonly myUserId: string | undefined;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const change = useChangeMemberRole(org.slug, myUserId);
  const [role, setRole] = useState<string | null>(null);
  const close = () => {
    change.reset();
    setRole(null);
    onClose();
  };
  const chosen = role ?? member?.role ?? null;
  const self = member !== null && member.userId === myUserId;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!member || !chosen) return;
    change.mutate(
      { userId: member.userId, role: chosen },
      {
        onSuccess: (m) => {
          notifySuccess(`${m.email} is now ${m.role}`);
          close();
        },
      },
    );
  };
  return (
    <Modal opened={member !== null} onClose={close} title="Change role">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Text size="sm" className="break-anywhere">
            {self ? (
              <>You are changing your own role: you may lose access to what you can do now.</>
            ) : (
              <>
                Choose the role of <strong>{member?.email}</strong>.
              </>
            )}
          </Text>
          <Refusal error={change.error} />
          <RoleSelect value={chosen} onChange={setRole} label="New role" />
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={change.isPending} disabled={!chosen || chosen === member?.role}>
              Change role
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Removes a member after confirmation. */
export function RemoveMemberModal({
  member,
  onClose,
}: {
  readonly member: Member | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const remove = useRemoveMember(org.slug);
  return (
    <ConfirmDialog
      opened={member !== null}
      onClose={onClose}
      title="Remove member"
      confirmLabel="Remove"
      mutation={remove}
      renderError={(error) => <Refusal error={error} />}
      onConfirm={(close) =>
        member &&
        remove.mutate(member.userId, {
          onSuccess: () => {
            notifySuccess(`${member.email} was removed`);
            close();
          },
        })
      }
    >
      Remove <strong>{member?.email}</strong> from {org.name}? They lose access at once; inviting them again
      brings them back.
    </ConfirmDialog>
  );
}
