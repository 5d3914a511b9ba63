import { Alert, Badge, Button, Card, Group, Progress, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { QueryState } from '../../../components/QueryState';
import { notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import { useChangeOrganizationPlan } from '../api/changeOrganizationPlan';
import { useOrganizationPlan, type Plan } from '../api/getOrganizationPlan';
import { StripeBillingActions } from '../components/StripeBillingActions';

/** Minor units as money (two decimals except for currencies without minor units). */
function money(amount: number, currency: string): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
    .maximumFractionDigits;
  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(amount / 10 ** (digits ?? 2));
}

/** The price in one line: its fixed fees, and whether usage is charged. */
function priceLine(plan: Plan): string {
  const { currency, interval, components } = plan.price;
  const parts: string[] = [];
  for (const c of components) {
    if (c.model === 'flat') parts.push(money(c.amount, currency));
    else if (c.model === 'per_seat') parts.push(`${money(c.unitAmount, currency)} per seat`);
  }
  const usage = components.some((c) => c.model !== 'flat' && c.model !== 'per_seat');
  if (parts.length === 0 && !usage) return components.length === 0 ? 'Priced by contract' : 'Free';
  return `${parts.join(' + ') || money(0, currency)} a ${interval}${usage ? ' + usage' : ''}`;
}

const seatsLabel = (limit: number | null) => (limit === null ? 'Unlimited seats' : `${limit} seats`);

/**
 * The organization's plan: seats used against the limit, its quotas, and (owners, `billing:manage`) the
 * plans it may switch to, at once with the built-in billing provider.
 */
export default function BillingPlanPage() {
  const { org, can } = useOrg();
  const manage = can('billing:manage');
  const plan = useOrganizationPlan(org.slug);
  const change = useChangeOrganizationPlan(org.slug);
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Plan &amp; billing
      </Title>
      <QueryState query={plan} what="the plan">
        {(data) => (
          <>
            <Card withBorder>
              <Stack gap="xs">
                <Group justify="space-between">
                  <Title order={2} size="h3">
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
                      value={Math.min(100, (data.seats.used / data.seats.limit) * 100)}
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
                      .map(
                        (q) => `${q.limit.toLocaleString('en')} ${q.meter} a ${q.period} (${q.enforcement})`,
                      )
                      .join('; ')}
                  </Text>
                ) : null}
              </Stack>
            </Card>
            <StripeBillingActions />
            {change.isError ? (
              <Alert color="red" role="alert" title="Could not change the plan">
                <Text size="sm">{describeError(change.error)}</Text>
              </Alert>
            ) : null}
            <Title order={2} size="h3">
              Available plans
            </Title>
            {manage ? null : (
              <Text size="sm" c="dimmed">
                Only owners can change the plan.
              </Text>
            )}
            <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
              {data.available.map((p) => {
                const current = p.key === data.plan.key;
                return (
                  <Card withBorder key={p.key}>
                    <Stack gap="xs">
                      <Title order={3} size="h4">
                        {p.name}
                      </Title>
                      <Text size="sm">{priceLine(p)}</Text>
                      <Text size="sm">{seatsLabel(p.seatLimit)}</Text>
                      {manage ? (
                        <Button
                          variant={current ? 'light' : 'filled'}
                          disabled={current || change.isPending}
                          loading={change.isPending && change.variables === p.key}
                          aria-label={current ? `${p.name}: current plan` : `Switch to ${p.name}`}
                          onClick={() =>
                            change.mutate(p.key, {
                              onSuccess: () => notifySuccess(`${org.name} is now on ${p.name}`),
                            })
                          }
                        >
                          {current ? 'Current plan' : `Switch to ${p.name}`}
                        </Button>
                      ) : null}
                    </Stack>
                  </Card>
                );
              })}
            </SimpleGrid>
          </>
        )}
      </QueryState>
    </Stack>
  );
}
