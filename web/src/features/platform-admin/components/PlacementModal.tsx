import { useState } from 'react';
import { Loader, Text } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { describeError } from '../../../api/errors';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { ENDED_STEPS, useLatestPlacementMove } from '../api/listPlacementMoves';
import { newMoveKey, useStartPlacementMove } from '../api/startPlacementMove';

const LABEL = {
  pooled: 'pooled (the shared schema)',
  schema: 'its own schema',
  database: 'its own database',
} as const;

/** An organization's placement (as the server records it) and the move to the other one (its own
 *  schema, or back to pooled), confirmed first. A database placement is shown, not moved. */
export function PlacementModal({
  org,
  onClose,
}: {
  readonly org: PlatformOrganization | null;
  readonly onClose: () => void;
}) {
  // Only to tell whether a move of it runs now (and at which step): the placement is the organization's.
  const latest = useLatestPlacementMove(org?.id ?? null);
  const start = useStartPlacementMove();
  // One key per opening: a second click of the same confirmation answers the move the first started.
  const [key, setKey] = useState(newMoveKey);
  const where = org?.placement.kind ?? 'pooled';
  const running = latest.data ? !ENDED_STEPS.includes(latest.data.step) : false;
  const moving = org?.placement.state === 'moving' || running;
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
        // Nothing to confirm until a running move is ruled out, while one runs, nor for a database.
        isPending: start.isPending || latest.isPending || moving || where === 'database',
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
      {!org ? null : moving ? (
        <>
          <strong>{org.name}</strong> is being moved
          {running && latest.data ? ` (step ${latest.data.step})` : ''}: see the moves below.
        </>
      ) : where === 'database' ? (
        <>
          <strong>{org.name}</strong> is placed in {LABEL.database}
          {org.placement.databaseKey ? ` (${org.placement.databaseKey})` : ''}. Moves go between pooled and
          its own schema only.
        </>
      ) : (
        <>
          <strong>{org.name}</strong> is placed in {LABEL[where]}. Move it to {LABEL[to]}? It keeps working
          during the move; its requests wait during the short switch. The move is recorded in the platform
          audit log and can be aborted until it is done.
          {latest.isPending ? <Loader size="xs" ml="xs" aria-label="Checking for a running move" /> : null}
          {latest.isError ? (
            <Text c="red" size="sm">
              Running moves could not be read: {describeError(latest.error)}
            </Text>
          ) : null}
        </>
      )}
    </ConfirmDialog>
  );
}
