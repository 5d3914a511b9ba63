import { Stack, Title } from '@mantine/core';
import { QueryState } from '../../../components/QueryState';
import { useOrg } from '../../organizations/components/org-context';
import { useOrganizationPlan } from '../api/getOrganizationPlan';
import { ChangePlanSection } from '../components/ChangePlanSection';
import { CurrentPlanSection } from '../components/CurrentPlanSection';
import { InvoicePreviewSection } from '../components/InvoicePreviewSection';
import { InvoicesSection } from '../components/InvoicesSection';
import { StripeBillingActions } from '../components/StripeBillingActions';

/**
 * The organization's plan & billing, one section each: the current plan with its seats and quotas, this
 * period's invoice so far, the issued invoices (PDF), and (owners, `billing:manage`) the plans it may
 * switch to, at once with the built-in billing provider.
 */
export default function BillingPlanPage() {
  const { org, can } = useOrg();
  const manage = can('billing:manage');
  const plan = useOrganizationPlan(org.slug);
  return (
    <Stack gap="lg">
      <Title order={1} size="h2">
        Plan &amp; billing
      </Title>
      <QueryState query={plan} what="the plan">
        {(data) => <CurrentPlanSection data={data} />}
      </QueryState>
      <StripeBillingActions />
      <InvoicePreviewSection org={org.slug} />
      <InvoicesSection org={org.slug} />
      {/* The plan's loading and error states are drawn once, above. */}
      {plan.data ? <ChangePlanSection org={org} data={plan.data} manage={manage} /> : null}
    </Stack>
  );
}
