import type { ReactNode } from 'react';
import { Button, Code, Drawer, Group, Stack, Table, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { actorLabel } from './actors';

type AuditEvent = Schemas['AuditEvent'];

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** One entry in full: who, what, from where, its changes and metadata, and its place in the chain. */
export function EventDrawer({
  event,
  emails,
  onClose,
  onFilter,
}: {
  readonly event: AuditEvent | null;
  readonly emails: ReadonlyMap<string, string>;
  readonly onClose: () => void;
  /** Narrows the log to this entry's actor or target. */
  readonly onFilter: (filter: { actor: string } | { targetType: string; targetId: string }) => void;
}) {
  return (
    <Drawer
      opened={event !== null}
      onClose={onClose}
      position="right"
      size="lg"
      lockScroll={false}
      title={event ? `Entry ${event.seq}: ${event.action}` : 'Entry'}
      closeButtonProps={{ 'aria-label': 'Close' }}
    >
      {event ? <Details event={event} emails={emails} onFilter={onFilter} /> : null}
    </Drawer>
  );
}

function Details({
  event: e,
  emails,
  onFilter,
}: {
  readonly event: AuditEvent;
  readonly emails: ReadonlyMap<string, string>;
  readonly onFilter: (filter: { actor: string } | { targetType: string; targetId: string }) => void;
}) {
  const rows: [string, ReactNode][] = [
    ['Time', new Date(e.occurredAt).toLocaleString()],
    ['Actor', `${actorLabel(e.actor, emails)} (${e.actor.type}${e.actor.id ? ` ${e.actor.id}` : ''})`],
    ['Action', <Code key="a">{e.action}</Code>],
    ['Target', `${e.target.type}${e.target.id ? ` ${e.target.id}` : ''}`],
    ['IP address', e.ip ?? (e.erased.includes('ip') ? 'Erased (the person’s account was deleted)' : '—')],
    [
      'User agent',
      e.userAgent ?? (e.erased.includes('user_agent') ? 'Erased (the person’s account was deleted)' : '—'),
    ],
    ['Request id', e.requestId ?? '—'],
    ['Entry id', e.id],
  ];
  const { id: actorId } = e.actor;
  const { id: targetId } = e.target;
  return (
    <Stack gap="md">
      <Table variant="vertical" layout="fixed" withTableBorder>
        <Table.Tbody>
          {rows.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Th w={110}>{label}</Table.Th>
              <Table.Td className="break-anywhere">{value}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Group gap="sm">
        {actorId ? (
          <Button size="xs" variant="light" onClick={() => onFilter({ actor: actorId })}>
            Only this actor
          </Button>
        ) : null}
        {targetId ? (
          <Button size="xs" variant="light" onClick={() => onFilter({ targetType: e.target.type, targetId })}>
            Only this target
          </Button>
        ) : null}
      </Group>
      {e.changes !== null && e.changes !== undefined ? (
        <Section title="Changes">
          <Code block className="audit-wrap">
            {json(e.changes)}
          </Code>
        </Section>
      ) : null}
      <Section title="Metadata">
        {e.metadata === null || e.metadata === undefined ? (
          <Text size="sm" c="dimmed">
            None
          </Text>
        ) : (
          <Code block className="audit-wrap">
            {json(e.metadata)}
          </Code>
        )}
      </Section>
      <Section title="Hash chain">
        <Text size="xs" c="dimmed">
          hash = SHA-256(previous hash ‖ canonical JSON of the entry)
        </Text>
        <Text size="sm">Previous hash</Text>
        <Code block className="audit-wrap">
          {e.prevHash}
        </Code>
        <Text size="sm">Hash</Text>
        <Code block className="audit-wrap">
          {e.hash}
        </Code>
      </Section>
    </Stack>
  );
}

function Section({ title, children }: { readonly title: string; readonly children: ReactNode }) {
  return (
    <Stack gap={4}>
      <Text component="h3" fw={600} size="sm">
        {title}
      </Text>
      {children}
    </Stack>
  );
}
