import { useMemo, useState } from 'react';
import { Alert, Button, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { notify, notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import { useFlags, type FlagEvaluation } from '../api/evaluateFlags';
import { useOverridableFlags, type OverridableFlag } from '../api/listOverridableFlags';
import { useRemoveFlagOverride } from '../api/removeFlagOverride';
import { formatFlagValue } from '../components/flag-value';
import { OverrideModal } from '../components/OverrideModal';
import { ReasonBadge } from '../components/ReasonBadge';

/**
 * Every feature flag's value for this organization (and the signed-in user) with the reason; members
 * with `flags:manage` set or remove the organization's override where the flag allows one.
 */
export default function FlagsPage() {
  const { org, can } = useOrg();
  const manage = can('flags:manage');
  const flags = useFlags(org.slug);
  const overridable = useOverridableFlags(org.slug, manage);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState<OverridableFlag | null>(null);
  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const all = flags.data?.details ?? [];
    return needle ? all.filter((f) => f.key.toLowerCase().includes(needle)) : all;
  }, [flags.data, filter]);
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Feature flags
      </Title>
      <Text size="sm" c="dimmed">
        The platform’s administrators define the flags; this is what each one is for {org.name} and for you,
        and why.
        {manage ? ' Where a flag allows it, you can set this organization’s own value.' : ''}
      </Text>
      {manage && overridable.isError ? (
        <Alert color="red" role="alert" title="Could not load which flags you can override">
          <Text size="sm">{describeError(overridable.error)}</Text>
        </Alert>
      ) : null}
      <QueryState
        query={flags}
        what="feature flags"
        isEmpty={(d) => d.details.length === 0}
        empty={
          <EmptyState title="No feature flags yet">
            <Text size="sm" c="dimmed">
              The platform’s administrators have not defined any flag.
            </Text>
          </EmptyState>
        }
      >
        {(data) => (
          <>
            <TextInput
              label="Filter flags"
              placeholder="Flag key"
              value={filter}
              onChange={(e) => setFilter(e.currentTarget.value)}
              maw={360}
            />
            <Text size="sm" c="dimmed" aria-live="polite">
              {rows.length === data.details.length
                ? `${rows.length} flag${rows.length === 1 ? '' : 's'}`
                : `${rows.length} of ${data.details.length} flags`}
            </Text>
            {rows.length === 0 ? (
              <EmptyState title="No flag matches the filter" />
            ) : (
              <FlagsTable
                rows={rows}
                overridable={manage ? overridable.data : undefined}
                manage={manage}
                onOverride={setEditing}
              />
            )}
          </>
        )}
      </QueryState>
      <OverrideModal
        org={org.slug}
        flag={editing}
        current={flags.data?.details.find((f) => f.key === editing?.key)}
        onClose={() => setEditing(null)}
      />
    </Stack>
  );
}

function FlagsTable({
  rows,
  overridable,
  manage,
  onOverride,
}: {
  readonly rows: readonly FlagEvaluation[];
  readonly overridable: ReadonlyMap<string, OverridableFlag> | undefined;
  readonly manage: boolean;
  readonly onOverride: (flag: OverridableFlag) => void;
}) {
  return (
    // Wide enough for a key, a value and a reason side by side; narrower screens scroll the table.
    <Table.ScrollContainer minWidth={manage ? 600 : 480}>
      <Table striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Flag</Table.Th>
            <Table.Th>Value</Table.Th>
            <Table.Th>Reason</Table.Th>
            {manage ? <Table.Th>Override</Table.Th> : null}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((f) => (
            <Table.Tr key={f.key}>
              <Table.Td>
                <Text size="sm" ff="monospace" className="break-anywhere">
                  {f.key}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" className="break-anywhere">
                  {formatFlagValue(f.value)}
                  {f.variant ? ` (${f.variant})` : ''}
                </Text>
              </Table.Td>
              <Table.Td>
                <ReasonBadge reason={f.reason} />
              </Table.Td>
              {manage ? (
                <Table.Td>
                  <OverrideCell
                    flagKey={f.key}
                    info={overridable?.get(f.key)}
                    loaded={!!overridable}
                    onOverride={onOverride}
                  />
                </Table.Td>
              ) : null}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function OverrideCell({
  flagKey,
  info,
  loaded,
  onOverride,
}: {
  readonly flagKey: string;
  readonly info: OverridableFlag | undefined;
  readonly loaded: boolean;
  readonly onOverride: (flag: OverridableFlag) => void;
}) {
  const { org } = useOrg();
  const remove = useRemoveFlagOverride(org.slug);
  if (!loaded) return null;
  if (!info) {
    return (
      <Text size="xs" c="dimmed">
        Not overridable
      </Text>
    );
  }
  const removeButton = info.override ? (
    <Button
      size="compact-sm"
      variant="subtle"
      color="red"
      aria-label={`Remove override of ${flagKey}`}
      loading={remove.isPending}
      onClick={() =>
        remove.mutate(flagKey, {
          onSuccess: () => notifySuccess(`Override of ${flagKey} removed`),
          onError: (err) =>
            notify({
              title: `Could not remove the override of ${flagKey}`,
              message: describeError(err),
              color: 'red',
            }),
        })
      }
    >
      Remove
    </Button>
  ) : null;
  if (!info.allowOrgOverride) {
    return (
      <Stack gap={2} align="flex-start">
        <Text size="xs" c="dimmed">
          Kept but not applied: this flag no longer allows overrides.
        </Text>
        {removeButton}
      </Stack>
    );
  }
  return (
    <Group gap="xs" wrap="nowrap">
      <Button
        size="compact-sm"
        variant="subtle"
        aria-label={`Override ${flagKey}`}
        onClick={() => onOverride(info)}
      >
        {info.override ? 'Change' : 'Override'}
      </Button>
      {removeButton}
    </Group>
  );
}
