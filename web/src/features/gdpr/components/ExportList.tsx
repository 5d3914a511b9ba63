import { Alert, Badge, Button, Group, Progress, Stack, Table, Text } from '@mantine/core';
import type { UseInfiniteQueryResult, InfiniteData, UseMutationResult } from '@tanstack/react-query';
import { describeError } from '../../../api/errors';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { inProgress, type Export } from '../api/exports';

type ExportPages = InfiniteData<{ data: Export[]; nextCursor: string | null }, unknown>;

const STATUS: Record<Export['status'], { label: string; color: string }> = {
  queued: { label: 'Queued', color: 'gray' },
  running: { label: 'Running', color: 'blue' },
  ready: { label: 'Ready', color: 'green' },
  failed: { label: 'Failed', color: 'red' },
  expired: { label: 'Expired', color: 'gray' },
};

const when = (iso: string) => new Date(iso).toLocaleString();
const size = (bytes: number | null) =>
  bytes === null
    ? ''
    : bytes < 1024 * 1024
      ? `${Math.ceil(bytes / 1024)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;

/**
 * Past and running exports: status, progress (files written of all, rows), and for a ready one a Download
 * button that asks for a fresh signed link and follows it (the browser downloads the archive).
 */
export function ExportList({
  query,
  link,
  what,
}: {
  readonly query: UseInfiniteQueryResult<ExportPages, Error>;
  readonly link: UseMutationResult<{ url: string; expiresAt: string } | null, Error, string>;
  readonly what: string;
}) {
  const rows = loadedRows(query);
  return (
    <Stack gap="xs">
      <QueryState
        query={query}
        what={what}
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No exports yet">Start one: it is built in the background.</EmptyState>}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Requested</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((e) => (
                    <Table.Tr key={e.id}>
                      <Table.Td>{when(e.createdAt)}</Table.Td>
                      <Table.Td>
                        <Stack gap={4}>
                          <Group gap="xs">
                            <Badge variant="light" color={STATUS[e.status].color}>
                              {STATUS[e.status].label}
                            </Badge>
                            {e.status === 'ready' ? (
                              <Text size="xs" c="dimmed">
                                {e.rows.toLocaleString()} rows, {size(e.sizeBytes)}
                              </Text>
                            ) : null}
                          </Group>
                          {inProgress(e) ? (
                            <Progress
                              value={e.tablesTotal === 0 ? 0 : (100 * e.tablesDone) / e.tablesTotal}
                              aria-label={`Export progress: ${e.tablesDone} of ${e.tablesTotal} files, ${e.rows} rows`}
                              size="sm"
                            />
                          ) : null}
                          {e.status === 'failed' && e.error ? (
                            <Text size="xs" c="red">
                              {e.error}
                            </Text>
                          ) : null}
                        </Stack>
                      </Table.Td>
                      <Table.Td>
                        <Group justify="flex-end" wrap="nowrap">
                          {e.status === 'ready' ? (
                            <Button
                              size="compact-sm"
                              variant="light"
                              loading={link.isPending && link.variables === e.id}
                              aria-label={`Download the export of ${when(e.createdAt)}`}
                              onClick={() =>
                                link.mutate(e.id, {
                                  onSuccess: (d) => {
                                    if (d) window.location.assign(d.url);
                                  },
                                })
                              }
                            >
                              Download
                            </Button>
                          ) : null}
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={query} />
          </>
        )}
      </QueryState>
      {link.error ? (
        <Alert color="red" role="alert" title="The download could not start">
          {describeError(link.error)}
        </Alert>
      ) : null}
    </Stack>
  );
}
