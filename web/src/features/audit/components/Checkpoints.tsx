import { Button, Code, Group, Stack, Table, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { notify } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { useAuditCheckpoints } from '../api/listAuditCheckpoints';
import { useCreateAuditCheckpoint } from '../api/createAuditCheckpoint';

/**
 * Signed checkpoints of the chain head (hourly, and on demand), oldest first, with the id of the key
 * that signed each (`GET /v1/audit-logs/public-key` publishes it). Any member who can read the log may
 * sign one (`audit:read`, the route's permission).
 */
export function Checkpoints({ org, canCreate }: { readonly org: string; readonly canCreate: boolean }) {
  const checkpoints = useAuditCheckpoints(org);
  const create = useCreateAuditCheckpoint(org);
  const rows = loadedRows(checkpoints);
  const sign = () =>
    create.mutate(undefined, {
      onSuccess: ({ checkpoint, created }) =>
        notify({
          message: created
            ? `Checkpoint signed at seq ${checkpoint.statement.seq}`
            : `Nothing new to sign: the latest checkpoint already covers seq ${checkpoint.statement.seq}`,
          color: created ? 'green' : 'gray',
        }),
    });
  return (
    <Stack gap="sm" component="section" aria-labelledby="checkpoints-title">
      <Group justify="space-between">
        <Title order={2} size="h3" id="checkpoints-title">
          Checkpoints
        </Title>
        {canCreate ? (
          <Button variant="default" loading={create.isPending} onClick={sign}>
            Create checkpoint
          </Button>
        ) : null}
      </Group>
      <Text size="sm" c="dimmed">
        Each checkpoint is an Ed25519 signature over the chain head at a seq. Someone who rewrites the
        database can recompute the hashes, but not forge these signatures: a rewrite is caught at the first
        checkpoint it crosses.
      </Text>
      {create.error ? (
        <Text size="sm" c="red" role="alert">
          {describeError(create.error)}
        </Text>
      ) : null}
      <QueryState
        query={checkpoints}
        what="checkpoints"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No checkpoints yet">
            <Text size="sm" c="dimmed">
              One is signed every hour the log moves{canCreate ? ', or now with “Create checkpoint”' : ''}.
            </Text>
          </EmptyState>
        }
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Seq</Table.Th>
                    <Table.Th>Signed</Table.Th>
                    <Table.Th>Key id</Table.Th>
                    <Table.Th className="hide-narrow">Signature</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((c) => (
                    <Table.Tr key={c.id}>
                      <Table.Td>{c.statement.seq}</Table.Td>
                      <Table.Td>{new Date(c.statement.signed_at).toLocaleString()}</Table.Td>
                      <Table.Td>
                        <Code className="break-anywhere">{c.statement.key_id}</Code>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Code title={c.signature}>{`${c.signature.slice(0, 24)}…`}</Code>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={checkpoints}>More checkpoints</LoadMore>
          </>
        )}
      </QueryState>
    </Stack>
  );
}
