import { Badge, Stack, Text } from '@mantine/core';
import type { FlagEvaluation } from '../api/evaluateFlags';

/** Why a flag has its value, in the order the server evaluates (docs/feature-flags.md). */
const REASONS: Record<FlagEvaluation['reason'], { label: string; color: string; why: string }> = {
  killed: {
    label: 'Kill switch',
    color: 'red',
    why: 'The platform administrators switched this flag off: everyone gets its off value.',
  },
  override: { label: 'Override', color: 'grape', why: 'This organization’s own value.' },
  entitlement: {
    label: 'Plan entitlement',
    color: 'green',
    why: 'This organization’s plan includes this feature.',
  },
  rule: {
    label: 'Targeting rule',
    color: 'blue',
    why: 'A rule matched this organization’s plan or attributes.',
  },
  rollout: {
    label: 'Rollout',
    color: 'teal',
    why: 'A percentage rollout: a stable bucket of this organization (or of you) decides the value.',
  },
  default: { label: 'Default', color: 'gray', why: 'No override, entitlement, rule or rollout applies.' },
};

export function ReasonBadge({ reason }: { readonly reason: FlagEvaluation['reason'] }) {
  const r = REASONS[reason];
  return (
    <Stack gap={2} align="flex-start">
      <Badge variant="dot" color={r.color}>
        {r.label}
      </Badge>
      <Text size="xs" c="dimmed" className="hide-narrow">
        {r.why}
      </Text>
    </Stack>
  );
}
