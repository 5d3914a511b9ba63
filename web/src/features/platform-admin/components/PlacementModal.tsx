import { useState } from 'react';
import { Loader, Text } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { describeError } from '../../../api/errors';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { placementAfter, useLatestPlacementMove } from '../api/listPlacementMoves';
import { newMoveKey, useStartPlacementMove } from '../api/startPlacementMove';

const LABEL = { pooled: 'pooled (the shared schema)', schema: 'its own schema' } as const;

/** An organization's placement and the move to the other one (its own schema, or back to pooled),
 *  confirmed first. */
export function PlacementModal({
  org,
  onClose,
}: {
  readonly org: PlatformOrganization | null;
  readonly onClose: () => void;
}) {
  const latest = useLatestPlacementMove(org?.id ?? null);
  const start = useStartPlacementMove();
  // One key per opening: a second click of the same confirmation answers the move the first started.
  const [key, setKey] = useState(newMoveKey);
  const where = latest.data === undefined ? undefined : placementAfter(latest.data);
  const to = where === 'schema' ? 'pooled' : 'schema';
  const close = () => {
    setKey(newMoveKey());
    onClose();
  };
  return (
    <ConfirmDialog
      opened={org !== null}
      onClose={close}
      title="Organization placement"
      confirmLabel={to === 'schema' ? 'Move to its own schema' : 'Move back to pooled'}
      confirmColor="blue"
      mutation={{
        // Nothing to confirm until the placement is known, nor while a move runs.
        isPending: start.isPending || where === undefined || where === 'moving',
        error: start.error,
        reset: () => start.reset(),
      }}
      errorTitle="The move was not started"
      onConfirm={(done) =>
        org &&
        start.mutate(
          { id: org.id, to, key },
          {
            onSuccess: () => {
              notifySuccess(`Moving ${org.name} to ${LABEL[to]}`);
              setKey(newMoveKey());
              done();
            },
          },
        )
      }
    >
      {!org ? null : latest.isPending ? (
        <Loader size="sm" aria-label="Loading the placement" />
      ) : latest.isError ? (
        <Text c="red" size="sm">
          The placement could not be read: {describeError(latest.error)}
        </Text>
      ) : where === 'moving' ? (
        <>
          <strong>{org.name}</strong> is being moved (step {latest.data?.step}): see the moves below.
        </>
      ) : (
        <>
          <strong>{org.name}</strong> is placed in {LABEL[where ?? 'pooled']}. Move it to {LABEL[to]}? It
          keeps working during the move; its requests wait during the short switch. The move is recorded in
          the platform audit log and can be aborted until it is done.
        </>
      )}
    </ConfirmDialog>
  );
}
