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

const confirmLabelOf = (to: MoveTo, from: PlatformOrganization['placement']['kind']) =>
  to === 'schema'
    ? 'Move to its own schema'
    : to === 'pooled'
      ? from === 'schema'
        ? 'Move back to pooled'
        : 'Move to pooled'
      : `Move to database ${to.slice('database:'.length)}`;

/** The moves offered from a placement within the control database (the tenant databases come from the
 *  server): the other of pooled and schema, or both for a `database` placement. */
const CONTROL_MOVES: Record<PlatformOrganization['placement']['kind'], readonly MoveTo[]> = {
  pooled: ['schema'],
  schema: ['pooled'],
  database: ['pooled', 'schema'],
};

/** An organization's placement (as the server records it) and a move to another one, chosen then
 *  confirmed: from pooled or its own schema, to the other one or into a tenant database the server can
 *  move to; from a tenant database, back to pooled, to its own schema, or into another tenant database
 *  (the one it is in is not offered). */
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
  const here = where === 'database' ? (org?.placement.databaseKey ?? null) : null;
  const running = latest.data ? !ENDED_STEPS.includes(latest.data.step) : false;
  const moving = org?.placement.state === 'moving' || running;
  const controlMoves = CONTROL_MOVES[where];
  const [chosen, setChosen] = useState<MoveTo | null>(null);
  const to = chosen ?? controlMoves[0] ?? 'pooled';
  const targets = usePlacementTargets(org !== null);
  const known = targets.data?.data ?? [];
  // The tenant databases a move can go into: every one the server can move to but the one it is in.
  const databases = known.filter((t) => t.databaseKey !== here);
  const hereRegions = known.find((t) => t.databaseKey === here)?.regions ?? [];
  // A move out reads the tenant database it leaves with its owner role: one the server does not list is
  // refused (422), so nothing is offered to confirm.
  const unreachable = here !== null && targets.isSuccess && !known.some((t) => t.databaseKey === here);
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
      confirmLabel={confirmLabelOf(to, where)}
      confirmColor="blue"
      mutation={{
        // Nothing to confirm until a running move is ruled out, while one runs, nor out of a tenant
        // database this server cannot read.
        isPending: start.isPending || latest.isPending || moving || unreachable,
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
              notifySuccess(`Moving ${org.name} to ${targetLabel(to, known)}`);
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
      ) : (
        <Stack gap="sm">
          <Text>
            <strong>{org.name}</strong> is placed in {LABEL[where]}
            {here ? ` (${here}${hereRegions.length > 0 ? `, region ${hereRegions.join(', ')}` : ''})` : ''}.
            Move it to {targetLabel(to, known)}? It keeps working during the move; its requests wait during
            the short switch. The move is recorded in the platform audit log and can be aborted until its
            switch (a move into or out of a tenant database) or until it is done.
          </Text>
          {unreachable ? (
            <Text c="red" size="sm">
              The tenant database {here} is not configured on this server with an owner URL
              (TENANT_DATABASES): a move out of it is refused.
            </Text>
          ) : null}
          {here && !to.startsWith('database:') ? (
            <Text size="sm" c="dimmed">
              Its data leaves the tenant database {here} for the main database: the organization then has no
              region.
            </Text>
          ) : null}
          <Radio.Group label="Move to" value={to} onChange={(v) => setChosen(v)}>
            <Stack gap={6} mt={4}>
              {controlMoves.map((m) => (
                <Radio key={m} value={m} label={targetLabel(m, known)} />
              ))}
              {databases.map((t) => (
                <Radio
                  key={t.databaseKey}
                  value={`database:${t.databaseKey}`}
                  label={targetLabel(`database:${t.databaseKey}`, known)}
                />
              ))}
            </Stack>
          </Radio.Group>
          {targets.isPending ? (
            <Text size="sm" c="dimmed" role="status">
              <Loader size="xs" mr="xs" aria-hidden />
              Reading the tenant databases this server can move to…
            </Text>
          ) : targets.isError ? (
            <Text c="red" size="sm">
              The tenant databases could not be read: {describeError(targets.error)}
            </Text>
          ) : databases.length === 0 ? (
            <Text size="sm" c="dimmed">
              {here ? 'No other tenant database' : 'No tenant database'} to move into is configured on this
              server (TENANT_DATABASES with an owner URL).
            </Text>
          ) : null}
          {latest.isPending ? (
            <Text size="sm" c="dimmed" role="status">
              <Loader size="xs" mr="xs" aria-hidden />
              Checking for a running move…
            </Text>
          ) : null}
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
