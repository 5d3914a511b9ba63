import { Alert, Button, Card, Stack, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { useChangeOrganizationPlan } from '../api/changeOrganizationPlan';
import { useBillingProvider } from '../api/stripeLinks';
import type { OrganizationPlan } from '../api/getOrganizationPlan';
import { priceLine } from './price-line';

const seatsLabel = (limit: number | null) => (limit === null ? 'Unlimited seats' : `${limit} seats`);

/**
 * The plans the organization may switch to; owners (`billing:manage`) switch at once with the built-in
 * provider, to a plan of the same billing interval and currency (the server refuses others: 409
 * PLAN_INTERVAL_CHANGE / PLAN_CURRENCY_CHANGE). Under Stripe the plan follows the subscription, so the
 * buttons give way to the Stripe card above.
 */
export function ChangePlanSection({
  org,
  data,
  manage,
}: {
  readonly org: { readonly slug: string; readonly name: string };
  readonly data: OrganizationPlan;
  readonly manage: boolean;
}) {
  const change = useChangeOrganizationPlan(org.slug);
  const provider = useBillingProvider(org.slug);
  // Until the provider is known, no button: a click under Stripe would only be refused.
  const switching = manage && provider.data?.provider === 'local';
  const terms = data.plan.price;
  return (
    <Stack gap="sm" component="section" aria-labelledby="available-plans">
      <Title order={2} size="h3" id="available-plans">
        Available plans
      </Title>
      {change.isError ? (
        <Alert color="red" role="alert" title="Could not change the plan">
          <Text size="sm">{describeError(change.error)}</Text>
        </Alert>
      ) : null}
      {manage ? null : (
        <Text size="sm" c="dimmed">
          Only owners can change the plan.
        </Text>
      )}
      {manage && provider.data?.provider === 'stripe' ? (
        <Text size="sm" c="dimmed">
          The plan follows the Stripe subscription: choose a plan with Checkout or change it in Manage
          billing.
        </Text>
      ) : null}
      {/* Columns by width from app.css: Mantine's responsive props add a <style> element the CSP refuses. */}
      <div className="plan-grid">
        {data.available.map((p) => {
          const current = p.key === data.plan.key;
          const sameTerms = p.price.interval === terms.interval && p.price.currency === terms.currency;
          return (
            <Card withBorder key={p.key}>
              <Stack gap="xs">
                <Title order={3} size="h4">
                  {p.name}
                </Title>
                <Text size="sm">{priceLine(p)}</Text>
                <Text size="sm">{seatsLabel(p.seatLimit)}</Text>
                {switching && !current && !sameTerms ? (
                  <Text size="sm" c="dimmed">
                    Billed per {p.price.interval} in {p.price.currency}: a platform administrator makes this
                    change at the start of a period.
                  </Text>
                ) : null}
                {switching && (current || sameTerms) ? (
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
      </div>
    </Stack>
  );
}
