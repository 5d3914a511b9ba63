import { useState } from 'react';
import { Loader, Radio, Stack, Text } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { describeError } from '../../../api/errors';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { ENDED_STEPS, useLatestPlacementMove } from '../api/listPlacementMoves';
import { usePlacementTargets, type PlacementTarget } from '../api/listPlacementTargets';
import { newMoveKey, useStartPlacementMove, type MoveTo } from '../api/startPlacementMove';

const LABEL = {
  pooled: 'pooled (the shared schema)',
  schema: 'its own schema',
  database: 'its own database',
} as const;

/** What a move's target is called: `database:<key>` by its key and regions. */
function targetLabel(to: MoveTo, targets: readonly PlacementTarget[]): string {
  if (to === 'pooled' || to === 'schema') return LABEL[to];
  const key = to.slice('database:'.length);
  const regions = targets.find((t) => t.databaseKey === key)?.regions ?? [];
  return `the tenant database ${key}${regions.length > 0 ? ` (region ${regions.join(', ')})` : ''}`;
}

const confirmLabelOf = (to: MoveTo) =>
  to === 'schema'
    ? 'Move to its own schema'
    : to === 'pooled'
      ? 'Move back to pooled'
      : `Move to database ${to.slice('database:'.length)}`;

/** An organization's placement (as the server records it) and a move to another one (its own schema, back
 *  to pooled, or into a tenant database the server can move to), chosen then confirmed. A database
 *  placement is shown, not moved (moves out of a tenant database are not built). */
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
  const other: MoveTo = where === 'schema' ? 'pooled' : 'schema';
  const [chosen, setChosen] = useState<MoveTo | null>(null);
  const to = chosen ?? other;
  const targets = usePlacementTargets(org !== null && where !== 'database');
  const databases = targets.data?.data ?? [];
  const close = () => {
    setKey(newMoveKey());
    setChosen(null);
    onClose();
  };
  return (
    <ConfirmDialog
      opened={org !== null}
      onClose={close}
      title="Organization placement"
      confirmLabel={confirmLabelOf(to)}
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
              notifySuccess(`Moving ${org.name} to ${targetLabel(to, databases)}`);
              setKey(newMoveKey());
              setChosen(null);
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
          {org.placement.databaseKey ? ` (${org.placement.databaseKey})` : ''}. Moves out of a tenant database
          are not built.
        </>
      ) : (
        <Stack gap="sm">
          <Text>
            <strong>{org.name}</strong> is placed in {LABEL[where]}. Move it to {targetLabel(to, databases)}?
            It keeps working during the move; its requests wait during the short switch. The move is recorded
            in the platform audit log and can be aborted until its switch (a move into a tenant database) or
            until it is done.
          </Text>
          <Radio.Group label="Move to" value={to} onChange={(v) => setChosen(v)}>
            <Stack gap={6} mt={4}>
              <Radio value={other} label={LABEL[other]} />
              {databases.map((t) => (
                <Radio
                  key={t.databaseKey}
                  value={`database:${t.databaseKey}`}
                  label={targetLabel(`database:${t.databaseKey}`, databases)}
                />
              ))}
            </Stack>
          </Radio.Group>
          {targets.isPending ? (
            <Text size="sm" c="dimmed">
              <Loader size="xs" mr="xs" aria-label="Reading the tenant databases" />
              Reading the tenant databases this server can move to…
            </Text>
          ) : targets.isError ? (
            <Text c="red" size="sm">
              The tenant databases could not be read: {describeError(targets.error)}
            </Text>
          ) : databases.length === 0 ? (
            <Text size="sm" c="dimmed">
              No tenant database to move into is configured on this server (TENANT_DATABASES with an owner
              URL).
            </Text>
          ) : null}
          {latest.isPending ? <Loader size="xs" aria-label="Checking for a running move" /> : null}
          {latest.isError ? (
            <Text c="red" size="sm">
              Running moves could not be read: {describeError(latest.error)}
            </Text>
          ) : null}
        </Stack>
      )}
    </ConfirmDialog>
  );
}
