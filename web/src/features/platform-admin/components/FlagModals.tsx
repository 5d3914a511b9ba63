import { useMemo, useState } from 'react';
import { Alert, Button, Modal, Stack, Text } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { describeError, isApiError } from '../../../api/errors';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { useCreateFlagDefinition } from '../api/createFlagDefinition';
import { useDeleteFlagDefinition } from '../api/deleteFlagDefinition';
import { flagDefinitionQueryOptions } from '../api/getFlagDefinition';
import type { FlagDefinition } from '../api/listFlagDefinitions';
import { useUpdateFlagDefinition } from '../api/updateFlagDefinition';
import { draftOf, newFlagDraft } from './flag-draft';
import { FlagForm } from './FlagForm';

export function CreateFlagModal({ open, onClose }: { readonly open: boolean; readonly onClose: () => void }) {
  const create = useCreateFlagDefinition();
  const close = () => {
    create.reset();
    onClose();
  };
  return (
    <Modal opened={open} onClose={close} title="New feature flag" size="xl">
      {open ? (
        <FlagForm
          initial={newFlagDraft()}
          editing={false}
          submitLabel="Create flag"
          pending={create.isPending}
          error={create.error}
          onCancel={close}
          onSubmit={(key, spec) =>
            create.mutate(
              { key, ...spec },
              {
                onSuccess: (f) => {
                  notifySuccess(`Flag ${f.key} created`);
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

/**
 * Edits a definition at the version it was opened at. When someone changed it since (409
 * FLAG_VERSION_CONFLICT), "Reload" reads it again and restarts the form from what is stored now.
 */
export function EditFlagModal({
  flag,
  onClose,
}: {
  readonly flag: FlagDefinition | null;
  readonly onClose: () => void;
}) {
  const update = useUpdateFlagDefinition();
  const qc = useQueryClient();
  const [reloaded, setReloaded] = useState<FlagDefinition | null>(null);
  const [reloadError, setReloadError] = useState<unknown>(null);
  const current = reloaded && reloaded.key === flag?.key ? reloaded : flag;
  const initial = useMemo(() => (current ? draftOf(current) : null), [current]);
  const conflict = isApiError(update.error, 409, 'FLAG_VERSION_CONFLICT');
  const close = () => {
    update.reset();
    setReloaded(null);
    setReloadError(null);
    onClose();
  };
  const reload = async () => {
    if (!flag) return;
    try {
      const fresh = await qc.fetchQuery(flagDefinitionQueryOptions(flag.key));
      setReloadError(null);
      setReloaded(fresh);
      update.reset();
    } catch (err) {
      setReloadError(err);
    }
  };
  return (
    <Modal opened={flag !== null} onClose={close} title={flag ? `Edit ${flag.key}` : 'Edit flag'} size="xl">
      {current && initial ? (
        <FlagForm
          key={`${current.key}@${current.version}`}
          initial={initial}
          editing
          submitLabel="Save"
          pending={update.isPending}
          error={conflict ? null : update.error}
          onCancel={close}
          notice={
            conflict ? (
              <Alert color="red" role="alert" title="Someone changed this flag since you opened it">
                <Stack gap="xs" align="flex-start">
                  <Text size="sm">
                    {describeError(update.error)}. Your changes were not saved, so nothing of theirs was
                    overwritten. Reload to see the flag as it is now (your edits here are replaced), then make
                    your change again.
                  </Text>
                  {reloadError ? <Text size="sm">Reloading failed: {describeError(reloadError)}</Text> : null}
                  <Button size="xs" variant="light" color="red" onClick={() => void reload()}>
                    Reload
                  </Button>
                </Stack>
              </Alert>
            ) : null
          }
          onSubmit={(_key, spec) =>
            update.mutate(
              { key: current.key, body: { ...spec, version: current.version } },
              {
                onSuccess: (f) => {
                  notifySuccess(`Flag ${f.key} saved (version ${f.version})`);
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

export function DeleteFlagModal({
  flag,
  onClose,
}: {
  readonly flag: FlagDefinition | null;
  readonly onClose: () => void;
}) {
  const remove = useDeleteFlagDefinition();
  return (
    <ConfirmDialog
      opened={flag !== null}
      onClose={onClose}
      title="Delete feature flag"
      confirmLabel="Delete"
      mutation={remove}
      errorTitle="The flag was not deleted"
      onConfirm={(close) =>
        flag &&
        remove.mutate(flag.key, {
          onSuccess: () => {
            notifySuccess(`Flag ${flag.key} deleted`);
            close();
          },
        })
      }
    >
      Delete <strong>{flag?.key}</strong>? It disappears from every organization’s flags at once (code reading
      it gets no value), and every organization’s override of it is deleted too. The deletion is recorded in
      the platform audit log. This cannot be undone.
    </ConfirmDialog>
  );
}
