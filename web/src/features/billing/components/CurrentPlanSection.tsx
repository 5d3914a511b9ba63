import { Badge, Card, Group, Progress, Stack, Text, Title } from '@mantine/core';
import type { OrganizationPlan } from '../api/getOrganizationPlan';
import { priceLine } from './price-line';

/** The organization's plan: name, price, seats used against the limit, quotas. */
export function CurrentPlanSection({ data }: { readonly data: OrganizationPlan }) {
  return (
    <Card withBorder component="section" aria-labelledby="current-plan">
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={2} size="h3" id="current-plan">
            {data.plan.name}
          </Title>
          <Badge variant="light">Current plan</Badge>
        </Group>
        {data.plan.description ? <Text size="sm">{data.plan.description}</Text> : null}
        <Text size="sm">{priceLine(data.plan)}</Text>
        <Text size="sm" fw={500}>
          Seats: {data.seats.used} used of {data.seats.limit ?? 'unlimited'}
        </Text>
        {data.seats.limit !== null ? (
          <Progress.Root>
            <Progress.Section
              aria-label={`Seats: ${data.seats.used} used of ${data.seats.limit}`}
              value={Math.min(100, (data.seats.used / Math.max(1, data.seats.limit)) * 100)}
              color={data.seats.used >= data.seats.limit ? 'red' : 'blue'}
            />
          </Progress.Root>
        ) : null}
        <Text size="xs" c="dimmed">
          Seats in use are active members plus pending invitations that have not expired.
        </Text>
        {data.plan.quotas.length > 0 ? (
          <Text size="sm">
            Quotas:{' '}
            {data.plan.quotas
              .map((q) => `${q.limit.toLocaleString('en')} ${q.meter} a ${q.period} (${q.enforcement})`)
              .join('; ')}
          </Text>
        ) : null}
      </Stack>
    </Card>
  );
}
