import { Alert, Badge, Button, Card, Group, Stack, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { useOrg } from '../../organizations/components/org-context';
import { useOrganizationPlan } from '../api/getOrganizationPlan';
import { useBillingProvider, useCreateCheckoutSession, useCreatePortalSession } from '../api/stripeLinks';

const STATUS: Record<string, { label: string; color: string }> = {
  none: { label: 'No subscription', color: 'gray' },
  active: { label: 'Active', color: 'green' },
  past_due: { label: 'Payment overdue', color: 'red' },
  paused: { label: 'Paused', color: 'yellow' },
  canceled: { label: 'Canceled', color: 'gray' },
};

/** Sends the browser to a Stripe page (Checkout or the Customer Portal). */
const go = (url: string) => window.location.assign(url);

/**
 * Stripe billing: the subscription's standing, and (owners, `billing:manage`) Checkout per plan Stripe
 * sells and the Customer Portal. Renders nothing when the deployment bills with the built-in provider.
 */
export function StripeBillingActions() {
  const { org, can } = useOrg();
  const manage = can('billing:manage');
  const provider = useBillingProvider(org.slug);
  const plan = useOrganizationPlan(org.slug);
  const checkout = useCreateCheckoutSession(org.slug);
  const portal = useCreatePortalSession(org.slug);
  const info = provider.data;
  if (!info || info.provider !== 'stripe') return null;
  const status = STATUS[info.status ?? 'none'] ?? STATUS.none!;
  const names = new Map((plan.data?.available ?? []).map((p) => [p.key, p.name]));
  const current = plan.data?.plan.key;
  const busy = checkout.isPending || portal.isPending;
  // A running subscription changes plan in the portal (a second Checkout would bill twice).
  const subscribed = info.status === 'active' || info.status === 'past_due' || info.status === 'paused';
  const error = checkout.error ?? portal.error;
  return (
    <Card withBorder component="section" aria-label="Stripe billing">
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={2} size="h3">
            Subscription
          </Title>
          <Badge color={status.color} variant="light">
            {status.label}
          </Badge>
        </Group>
        {info.status === 'past_due' && info.graceEndsAt ? (
          <Text size="sm" c="red">
            Update the payment method before {new Date(info.graceEndsAt).toLocaleDateString('en')} or the
            organization will be suspended.
          </Text>
        ) : null}
        {info.status === 'paused' ? (
          <Text size="sm">
            The subscription is paused: the organization is on the free plan until it is resumed in the
            billing portal.
          </Text>
        ) : null}
        <Text size="sm" c="dimmed">
          Payments are handled by Stripe. A plan bought here applies once Stripe confirms the subscription.
        </Text>
        {error ? (
          <Alert color="red" role="alert" title="Stripe is not available">
            <Text size="sm">{describeError(error)}</Text>
          </Alert>
        ) : null}
        {manage ? (
          <Group gap="xs">
            {(subscribed ? [] : info.checkoutPlans)
              .filter((key) => key !== current)
              .map((key) => (
                <Button
                  key={key}
                  disabled={busy}
                  loading={checkout.isPending && checkout.variables === key}
                  onClick={() => checkout.mutate(key, { onSuccess: (r) => go(r.url) })}
                >
                  Checkout: {names.get(key) ?? key}
                </Button>
              ))}
            <Button
              variant="light"
              disabled={busy}
              loading={portal.isPending}
              onClick={() => portal.mutate(undefined, { onSuccess: (r) => go(r.url) })}
            >
              Manage billing
            </Button>
          </Group>
        ) : null}
      </Stack>
    </Card>
  );
}
