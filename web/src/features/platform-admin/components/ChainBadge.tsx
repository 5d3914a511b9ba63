import { Alert, Badge, Button, Group, Loader, Text } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { useVerifyPlatformAudit } from '../api/verifyPlatformAuditLog';

/** The platform chain's verification: intact, or broken at a sequence number with the reason. */
export function ChainBadge() {
  const verify = useVerifyPlatformAudit();
  if (verify.isPending) {
    return (
      <Group gap="xs" role="status">
        <Loader size="xs" aria-hidden />
        <Text size="sm">Verifying the chain…</Text>
      </Group>
    );
  }
  if (verify.isError) {
    return (
      <Alert color="red" role="alert" title="Could not verify the chain">
        <Text size="sm">{describeError(verify.error)}</Text>
      </Alert>
    );
  }
  const v = verify.data;
  return (
    <Group gap="sm" wrap="wrap" role="status" aria-live="polite">
      {v.valid ? (
        <Badge variant="dot" color="green" size="lg">
          Chain intact
        </Badge>
      ) : (
        <Badge variant="dot" color="red" size="lg">
          {`Chain broken at seq ${v.firstBrokenSeq ?? '?'}`}
        </Badge>
      )}
      <Text size="sm" c="dimmed">
        {v.entriesChecked} entries checked, last seq {v.lastSeq}
        {!v.valid && v.reason ? ` · ${v.reason}${v.detail ? `: ${v.detail}` : ''}` : ''}
      </Text>
      <Button
        size="compact-sm"
        variant="subtle"
        loading={verify.isFetching}
        onClick={() => void verify.refetch()}
      >
        Verify again
      </Button>
    </Group>
  );
}
