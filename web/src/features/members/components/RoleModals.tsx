import { Modal } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import { useCreateRole } from '../api/createRole';
import { useDeleteRole } from '../api/deleteRole';
import type { Role } from '../api/listRoles';
import { useUpdateRole } from '../api/updateRole';
import { Refusal } from './Refusal';
import { RoleForm } from './RoleForm';

export function CreateRoleModal({ open, onClose }: { readonly open: boolean; readonly onClose: () => void }) {
  const { org } = useOrg();
  const create = useCreateRole(org.slug);
  const close = () => {
    create.reset();
    onClose();
  };
  return (
    <Modal opened={open} onClose={close} title="New role" size="lg">
      <RoleForm
        key={String(open)}
        submitLabel="Create role"
        pending={create.isPending}
        error={create.error}
        onCancel={close}
        onSubmit={(draft) =>
          create.mutate(draft, {
            onSuccess: (r) => {
              notifySuccess(`Role “${r.name}” created`);
              close();
            },
          })
        }
      />
    </Modal>
  );
}

export function EditRoleModal({
  role,
  onClose,
}: {
  readonly role: Role | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const update = useUpdateRole(org.slug);
  const close = () => {
    update.reset();
    onClose();
  };
  return (
    <Modal opened={role !== null} onClose={close} title="Edit role" size="lg">
      {role ? (
        <RoleForm
          key={role.key}
          initial={{ key: role.key, name: role.name, permissions: role.permissions }}
          submitLabel="Save"
          pending={update.isPending}
          error={update.error}
          onCancel={close}
          onSubmit={({ name, permissions }) =>
            update.mutate(
              { key: role.key, name, permissions },
              {
                onSuccess: (r) => {
                  notifySuccess(`Role “${r.name}” saved`);
                  close();
                },
              },
            )
          }
        />
      ) : null}
    </Modal>
  );
}

export function DeleteRoleModal({
  role,
  onClose,
}: {
  readonly role: Role | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const remove = useDeleteRole(org.slug);
  return (
    <ConfirmDialog
      opened={role !== null}
      onClose={onClose}
      title="Delete role"
      confirmLabel="Delete"
      mutation={remove}
      renderError={(error) => <Refusal error={error} />}
      onConfirm={(close) =>
        role &&
        remove.mutate(role.key, {
          onSuccess: () => {
            notifySuccess(`Role “${role.name}” deleted`);
            close();
          },
        })
      }
    >
      Delete the role <strong>{role?.name}</strong> ({role?.key})? This cannot be undone.
    </ConfirmDialog>
  );
}
