import { Badge, Button, Code, Group, Stack, Table, Text, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { useWebhookDeliveries } from '../api/listWebhookDeliveries';
import { useRedeliverWebhook } from '../api/redeliverWebhook';

type Delivery = Schemas['WebhookDelivery'];

const STATUS_COLOR: Record<Delivery['status'], string> = {
  pending: 'yellow',
  succeeded: 'green',
  dead: 'red',
};
const moment = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');

/** One attempt as a line: when, the answer (or the error) and how long it took. */
function attemptLine(a: Delivery['log'][number]): string {
  const answer = a.responseStatus !== null ? `HTTP ${a.responseStatus}` : (a.error ?? 'no answer');
  const how = a.trigger === 'manual' ? ' (redelivery)' : '';
  return `#${a.attempt}${how} ${new Date(a.startedAt).toLocaleString()}: ${answer}, ${a.durationMs} ms`;
}

/** The delivery log of one endpoint: each event sent, its status, every attempt, and Redeliver. */
export function DeliveriesPanel({
  org,
  endpoint,
}: {
  readonly org: string;
  readonly endpoint: Schemas['WebhookEndpoint'];
}) {
  const deliveries = useWebhookDeliveries(org, endpoint.id);
  const redeliver = useRedeliverWebhook(org, endpoint.id);
  const rows = loadedRows(deliveries);
  return (
    <Stack gap="sm" component="section" aria-labelledby={`deliveries-${endpoint.id}`}>
      <Title order={2} size="h4" id={`deliveries-${endpoint.id}`} className="break-anywhere">
        Deliveries to {endpoint.url}
      </Title>
      {redeliver.error ? (
        <Text size="sm" c="red" role="alert">
          {describeError(redeliver.error)}
        </Text>
      ) : null}
      <QueryState
        query={deliveries}
        what="deliveries"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="Nothing sent to this endpoint yet" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped verticalSpacing="sm">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Event</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th className="hide-narrow">Attempts</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((d) => (
                    <Table.Tr key={d.id}>
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {d.eventType}
                        </Text>
                        <Text size="xs" c="dimmed">
                          {moment(d.createdAt)} · <Code>{d.webhookId}</Code>
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light" color={STATUS_COLOR[d.status]}>
                          {d.status}
                        </Badge>
                        {d.lastStatus !== null ? (
                          <Text size="xs" c="dimmed">
                            last answer HTTP {d.lastStatus}
                          </Text>
                        ) : null}
                        {d.status === 'pending' && d.nextAttemptAt ? (
                          <Text size="xs" c="dimmed">
                            next attempt {moment(d.nextAttemptAt)}
                          </Text>
                        ) : null}
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Stack gap={2}>
                          {d.log.length === 0 ? (
                            <Text size="xs" c="dimmed">
                              none yet
                            </Text>
                          ) : (
                            d.log.map((a) => (
                              <Text key={a.attempt} size="xs" className="break-anywhere">
                                {attemptLine(a)}
                              </Text>
                            ))
                          )}
                        </Stack>
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          <Button
                            size="compact-sm"
                            variant="subtle"
                            disabled={!endpoint.enabled}
                            loading={redeliver.isPending && redeliver.variables === d.id}
                            aria-label={`Redeliver ${d.eventType} of ${moment(d.createdAt)}`}
                            onClick={() =>
                              redeliver.mutate(d.id, {
                                onSuccess: () => notifySuccess('Queued: it is sent again now'),
                              })
                            }
                          >
                            Redeliver
                          </Button>
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={deliveries} />
          </>
        )}
      </QueryState>
    </Stack>
  );
}
