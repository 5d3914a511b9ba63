import { Fragment } from 'react';
import { Table, Text, UnstyledButton } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { actorLabel, targetLabel } from './actors';

type AuditEvent = Schemas['AuditEvent'];

/**
 * Audit entries, newest first: seq, time, actor, action, target. The action opens the entry's details
 * (a button: keyboard reachable, named "<action>, details of entry <seq>").
 */
export function AuditTable({
  events,
  emails,
  onOpen,
}: {
  readonly events: readonly AuditEvent[];
  readonly emails: ReadonlyMap<string, string>;
  readonly onOpen: (e: AuditEvent) => void;
}) {
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Seq</Table.Th>
            <Table.Th>Time</Table.Th>
            <Table.Th className="hide-narrow">Actor</Table.Th>
            <Table.Th>Action</Table.Th>
            <Table.Th className="hide-narrow">Target</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((e) => (
            <Table.Tr key={e.seq}>
              <Table.Td>{e.seq}</Table.Td>
              <Table.Td>
                <Text size="sm">{new Date(e.occurredAt).toLocaleString()}</Text>
              </Table.Td>
              <Table.Td className="hide-narrow">
                <Text size="sm" className="break-anywhere">
                  {actorLabel(e.actor, emails)}
                </Text>
              </Table.Td>
              <Table.Td>
                <UnstyledButton className="audit-action" onClick={() => onOpen(e)}>
                  <BreakAtDots text={e.action} />
                  <span className="visually-hidden">, details of entry {e.seq}</span>
                </UnstyledButton>
              </Table.Td>
              <Table.Td className="hide-narrow">
                <Text size="sm" className="break-anywhere">
                  {targetLabel(e)}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** `member.role_changed` with a line-break opportunity after each dot (narrow screens wrap it there). */
function BreakAtDots({ text }: { readonly text: string }) {
  const parts = text.split('.');
  return (
    <>
      {parts.map((p, i) => (
        <Fragment key={i}>
          {p}
          {i < parts.length - 1 ? (
            <>
              .<wbr />
            </>
          ) : null}
        </Fragment>
      ))}
    </>
  );
}
