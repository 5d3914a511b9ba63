import { Alert, Badge, Button, Group, Paper, Stack, Text } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { useVerifyAuditLog } from '../api/verifyAuditLog';

/** What each `reason` of a broken chain means, in a sentence (docs/audit-log.md). */
const REASONS: Record<string, string> = {
  missing_entry: 'an entry was deleted or moved.',
  unexpected_entry: 'an entry appears that the chain does not account for.',
  prev_hash_mismatch: 'an entry does not link to the one before it.',
  hash_mismatch: 'an entry’s content was changed after it was written.',
  truncated: 'the head or a checkpoint covers entries that are gone.',
  head_missing: 'the chain’s head record is missing.',
  head_mismatch: 'the chain’s head does not match its last entry.',
  checkpoint_mismatch:
    'the chain was rewritten consistently, but no longer matches a signed checkpoint; the seq is the first entry after the last checkpoint that still holds.',
  bad_signature: 'a checkpoint’s signature does not verify.',
  cut_before_retention:
    'the entries before a signed checkpoint are gone, but that checkpoint is too recent for the audit retention to have purged them.',
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * The chain-verification badge: the server recomputes every hash and checks each checkpoint signature.
 * "Chain intact (N entries)", or "Broken at seq N: reason" and any later breaks, with "Verify again"; and how many events were
 * recorded but not yet sealed into the chain when it was checked (`unsealed`), if any.
 */
export function ChainStatus({ org }: { readonly org: string }) {
  const verify = useVerifyAuditLog(org);
  const v = verify.data;
  const again = (
    <Button size="xs" variant="default" loading={verify.isFetching} onClick={() => void verify.refetch()}>
      Verify again
    </Button>
  );
  // Events committed while the check ran are chained within seconds; this check did not cover them.
  const unsealed =
    v && v.unsealed.count > 0 ? (
      <Text size="xs" c="dimmed">
        {plural(v.unsealed.count, 'event', 'events')} recorded
        {v.unsealed.oldestOccurredAt
          ? ` since ${new Date(v.unsealed.oldestOccurredAt).toLocaleTimeString()}`
          : ''}{' '}
        not sealed into the chain yet: sealed within seconds, not covered by this check.
      </Text>
    ) : null;
  if (verify.isError && !v) {
    return (
      <Alert color="red" title="Could not verify the audit log" role="alert">
        <Stack gap="xs" align="flex-start">
          <Text size="sm">{describeError(verify.error)}</Text>
          {again}
        </Stack>
      </Alert>
    );
  }
  return (
    <Paper withBorder p="sm" radius="md">
      <Group justify="space-between" gap="sm" wrap="wrap">
        <Stack gap={4} role="status" aria-live="polite" aria-label="Chain verification">
          {!v ? (
            <Badge variant="light" color="gray" size="lg" tt="none">
              Verifying the chain…
            </Badge>
          ) : v.valid ? (
            <>
              <Badge variant="light" color="green" size="lg" tt="none">
                Chain intact ({plural(v.entriesChecked, 'entry', 'entries')})
              </Badge>
              <Text size="xs" c="dimmed">
                Every hash recomputed
                {v.anchorSeq !== null
                  ? ` from the signed checkpoint at seq ${v.anchorSeq} (older events purged by the plan's audit retention)`
                  : ''}{' '}
                up to seq {v.lastSeq};{' '}
                {plural(v.checkpointsChecked, 'checkpoint signature', 'checkpoint signatures')} checked
                {v.checkpointsUnverifiable > 0
                  ? `, ${v.checkpointsUnverifiable} signed by a key this server does not know`
                  : ''}
                . Verified {new Date(verify.dataUpdatedAt).toLocaleTimeString()}.
              </Text>
              {unsealed}
            </>
          ) : (
            <>
              <Badge variant="light" color="red" size="lg" tt="none">
                {v.firstBrokenSeq !== null ? `Broken at seq ${v.firstBrokenSeq}` : 'Broken'}:{' '}
                {v.reason ?? 'unknown'}
              </Badge>
              <Text size="xs">
                {(v.reason && REASONS[v.reason]) ?? 'The chain does not verify.'}
                {v.detail ? ` ${v.detail}` : ''} Someone with access to the database may have altered the log:
                export it and compare it with an earlier export or the signed checkpoints.
              </Text>
              {v.breaks.length > 1 ? (
                <Text size="xs">
                  Also broken at seq{' '}
                  {v.breaks
                    .slice(1)
                    .map((b) => `${b.seq} (${b.reason})`)
                    .join(', ')}
                  {v.breaksTruncated ? ', and more' : ''}: each entry is checked on its own, so an earlier
                  break hides none of these.
                </Text>
              ) : null}
              {unsealed}
            </>
          )}
          {verify.isError ? (
            <Text size="xs" c="red">
              The last check failed: {describeError(verify.error)}
            </Text>
          ) : null}
        </Stack>
        {again}
      </Group>
    </Paper>
  );
}
