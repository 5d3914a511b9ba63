import { useEffect, useRef } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Stack, Table, Text, Title } from '@mantine/core';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { notifySuccess } from '../../../components/notify';
import { describeError } from '../../../api/errors';
import { loadedRows } from '../../../lib/paging';
import { ENDED_STEPS, usePlacementMoves, type PlacementMove } from '../api/listPlacementMoves';
import { useAbortPlacementMove } from '../api/abortPlacementMove';
import { platformOrganizationsKey } from '../api/listPlatformOrganizations';

const STEP_COLOR: Record<string, string> = { done: 'green', aborted: 'gray', failed: 'red' };

/** Placement moves, newest first (polled while one runs): from and to (a tenant database by key), step,
 *  freeze, error, and abort. */
export function PlacementMoves({ names }: { readonly names: ReadonlyMap<string, string> }) {
  const moves = usePlacementMoves();
  const abort = useAbortPlacementMove();
  const rows = loadedRows(moves);
  // A move that starts or ends changes its organization's placement: the organization list reloads.
  const qc = useQueryClient();
  const running = rows
    .filter((m) => !ENDED_STEPS.includes(m.step))
    .map((m) => m.id)
    .join(',');
  const seenRunning = useRef(running);
  useEffect(() => {
    if (seenRunning.current === running) return;
    seenRunning.current = running;
    void qc.invalidateQueries({ queryKey: platformOrganizationsKey });
  }, [running, qc]);
  const onAbort = (m: PlacementMove) =>
    abort.mutate(m.id, { onSuccess: () => notifySuccess('Move aborting') });
  return (
    <Stack gap="sm">
      <Title order={2} size="h3">
        Placement moves
      </Title>
      {abort.error ? (
        <Text c="red" size="sm" role="alert">
          The abort was refused: {describeError(abort.error)}
        </Text>
      ) : null}
      <QueryState
        query={moves}
        what="placement moves"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No placement moves yet" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={480}>
              <Table striped aria-label="Placement moves">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Organization</Table.Th>
                    <Table.Th>Move</Table.Th>
                    <Table.Th>Step</Table.Th>
                    <Table.Th className="hide-narrow">Freeze</Table.Th>
                    <Table.Th className="hide-narrow">Started</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((m) => (
                    <Table.Tr key={m.id}>
                      <Table.Td>
                        <Text size="sm" className="break-anywhere">
                          {names.get(m.organizationId) ?? m.organizationId}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm">
                          {m.from}
                          {m.fromDatabaseKey ? ` ${m.fromDatabaseKey}` : ''} → {m.to}
                          {m.databaseKey ? ` ${m.databaseKey}` : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="dot" color={STEP_COLOR[m.step] ?? 'blue'}>
                          {m.step}
                        </Badge>
                        {m.error ? (
                          <Text size="xs" c="red" className="break-anywhere">
                            {m.error}
                          </Text>
                        ) : null}
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        {m.freezeMs === null ? '—' : `${m.freezeMs} ms`}
                      </Table.Td>
                      <Table.Td className="hide-narrow">{new Date(m.createdAt).toLocaleString()}</Table.Td>
                      <Table.Td>
                        {ENDED_STEPS.includes(m.step) || m.step === 'aborting' ? null : (
                          <Button
                            size="compact-sm"
                            variant="subtle"
                            color="red"
                            loading={abort.isPending && abort.variables === m.id}
                            aria-label={`Abort the move of ${names.get(m.organizationId) ?? m.organizationId}`}
                            onClick={() => onAbort(m)}
                          >
                            Abort
                          </Button>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={moves} />
          </>
        )}
      </QueryState>
    </Stack>
  );
}
