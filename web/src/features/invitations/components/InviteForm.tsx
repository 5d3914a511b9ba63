import { useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Group, List, Paper, Stack, TagsInput, Text, Title } from '@mantine/core';
import { RoleSelect } from '../../members/components/RoleSelect';
import { useOrg } from '../../organizations/components/org-context';
import { distinctAddresses, useCreateInvitations, type InviteOutcome } from '../api/createInvitations';

const BADGES: Readonly<Record<InviteOutcome['kind'], { color: string; label: string }>> = {
  sent: { color: 'green', label: 'sent' },
  member: { color: 'gray', label: 'already a member' },
  pending: { color: 'yellow', label: 'already invited' },
  invalid: { color: 'red', label: 'invalid' },
  limit: { color: 'red', label: 'limit reached' },
  refused: { color: 'red', label: 'refused' },
};

/** Outcomes whose address stays in the field after sending. */
const RETRY = new Set<InviteOutcome['kind']>(['invalid', 'limit', 'refused']);

/**
 * Invite one or many addresses (typed or pasted, separated by commas, spaces or new lines) with one role:
 * one request per address, and what happened to each (sent, already a member, invalid, limit reached…).
 */
export function InviteForm() {
  const { org } = useOrg();
  const send = useCreateInvitations(org.slug);
  const [emails, setEmails] = useState<string[]>([]);
  const [typing, setTyping] = useState('');
  const [role, setRole] = useState<string | null>('member');
  const [missing, setMissing] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const list = distinctAddresses([...emails, ...typing.split(/[\s,;]+/)]);
    if (list.length === 0) {
      setMissing('Enter at least one email address.');
      return;
    }
    if (!role) return;
    setMissing(null);
    send.mutate(
      { emails: list, role },
      {
        onSuccess: (outcomes) => {
          // What can still be corrected or retried stays in the field.
          setEmails(outcomes.filter((o) => RETRY.has(o.kind)).map((o) => o.email));
          setTyping('');
        },
      },
    );
  };
  const outcomes = send.data ?? [];
  const limited = outcomes.find((o) => o.kind === 'limit');
  return (
    <Paper withBorder p="md" radius="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            Invite people
          </Title>
          <TagsInput
            label="Email addresses"
            description="Type or paste one or more addresses, separated by commas, spaces or new lines; press Enter after each."
            placeholder={emails.length ? '' : 'colleague@example.com'}
            value={emails}
            onChange={(v) => setEmails(distinctAddresses(v.flatMap((s) => s.split(/[\s,;]+/))))}
            searchValue={typing}
            onSearchChange={setTyping}
            splitChars={[',', ' ', ';']}
            clearable
            error={missing}
          />
          <RoleSelect value={role} onChange={setRole} description="The role they get once they accept." />
          <Group justify="flex-end">
            <Button type="submit" loading={send.isPending}>
              Send invitations
            </Button>
          </Group>
          {limited ? (
            <Alert color="yellow" role="alert" title="Invitation limit reached">
              {limited.message}
            </Alert>
          ) : null}
          {outcomes.length > 0 ? (
            <Stack gap={4} aria-live="polite">
              <Text size="sm" fw={500}>
                Result
              </Text>
              <List spacing={4} listStyleType="none" ml={0} pl={0}>
                {outcomes.map((o) => (
                  <List.Item key={o.email}>
                    <Group gap="xs" wrap="wrap">
                      <Badge color={BADGES[o.kind].color} variant="light">
                        {BADGES[o.kind].label}
                      </Badge>
                      <Text size="sm" className="break-anywhere">
                        {o.email}
                      </Text>
                      {o.kind !== 'sent' ? (
                        <Text size="xs" c="dimmed">
                          {o.message}
                        </Text>
                      ) : null}
                    </Group>
                  </List.Item>
                ))}
              </List>
            </Stack>
          ) : null}
        </Stack>
      </form>
    </Paper>
  );
}
