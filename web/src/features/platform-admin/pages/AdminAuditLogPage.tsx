import { useState, type FormEvent } from 'react';
import { Button, Code, Group, Modal, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { fieldErrorsOf } from '../../../components/FormError';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { usePlatformAuditLogs } from '../api/listPlatformAuditLogs';
import { AdminNotFound, AdminOnly, isRefusal } from '../components/AdminOnly';
import { ChainBadge } from '../components/ChainBadge';

type AuditEvent = Schemas['AuditEvent'];

/** The platform audit chain (flag definitions and other platform actions), newest first, verified. */
export default function AdminAuditLogPage() {
  return (
    <AdminOnly>
      <PlatformAuditLog />
    </AdminOnly>
  );
}

function PlatformAuditLog() {
  const [draft, setDraft] = useState('');
  const [action, setAction] = useState('');
  const events = usePlatformAuditLogs(action);
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const rows = loadedRows(events);
  const errors = fieldErrorsOf(events.error, {});
  if (isRefusal(events.error)) return <AdminNotFound />;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAction(draft.trim());
  };
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Platform audit log
      </Title>
      <ChainBadge />
      <form onSubmit={submit} noValidate>
        <Group gap="sm" align="flex-end" wrap="wrap">
          <TextInput
            label="Action"
            description="An action (flag.created) or a family (flag.*)"
            value={draft}
            onChange={(e) => setDraft(e.currentTarget.value)}
            error={errors.action}
            w={300}
            maw="100%"
          />
          <Button type="submit" variant="default">
            Filter
          </Button>
        </Group>
      </form>
      <QueryState
        query={events}
        what="the platform audit log"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title={action ? `No ${action} events` : 'No platform events yet'} />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Seq</Table.Th>
                    <Table.Th>Action</Table.Th>
                    <Table.Th className="hide-narrow">Target</Table.Th>
                    <Table.Th className="hide-narrow">Actor</Table.Th>
                    <Table.Th className="hide-narrow">When</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Details</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((e) => (
                    <Table.Tr key={e.id}>
                      <Table.Td>{e.seq}</Table.Td>
                      <Table.Td>
                        <Text size="sm" ff="monospace" className="break-anywhere">
                          {e.action}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="sm" className="break-anywhere">
                          {e.target.type}
                          {e.target.id ? ` ${e.target.id}` : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="xs" className="break-anywhere">
                          {e.actor.type}
                          {e.actor.id ? ` ${e.actor.id}` : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">{new Date(e.occurredAt).toLocaleString()}</Table.Td>
                      <Table.Td>
                        <Button
                          size="compact-sm"
                          variant="subtle"
                          aria-label={`Details of event ${e.seq}`}
                          onClick={() => setOpen(e)}
                        >
                          Details
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={events} />
          </>
        )}
      </QueryState>
      <Modal
        opened={open !== null}
        onClose={() => setOpen(null)}
        title={`Event ${open?.seq ?? ''}`}
        size="lg"
      >
        {open ? <EventDetails event={open} /> : null}
      </Modal>
    </Stack>
  );
}

function EventDetails({ event }: { readonly event: AuditEvent }) {
  const {
    seq,
    action,
    occurredAt,
    actor,
    target,
    ip,
    userAgent,
    requestId,
    changes,
    metadata,
    erased,
    hash,
    prevHash,
  } = event;
  return (
    <Code block className="break-anywhere">
      {JSON.stringify(
        {
          seq,
          action,
          occurredAt,
          actor,
          target,
          ip,
          userAgent,
          requestId,
          changes,
          metadata,
          ...(erased.length > 0 ? { erased } : {}),
          prevHash,
          hash,
        },
        null,
        2,
      )}
    </Code>
  );
}
