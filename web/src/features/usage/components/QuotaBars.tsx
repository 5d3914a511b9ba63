import { Badge, Card, Group, Progress, Stack, Text } from '@mantine/core';
import { HeadedSection } from '../../../components/HeadedSection';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { useOrganizationPlan, type Plan } from '../../billing/api/getOrganizationPlan';
import { useUsageSummary } from '../api/getUsageSummary';
import { combine, formatDecimal, fromScaled, quotaPeriod } from './usage-math';

type Quota = Plan['quotas'][number];

/** The plan's quotas against this period's usage (holders of `billing:read`: the plan is theirs to read). */
export function QuotaBars({ org }: { readonly org: string }) {
  const plan = useOrganizationPlan(org);
  return (
    <HeadedSection id="quotas" title="Quotas">
      <QueryState
        query={plan}
        what="the plan’s quotas"
        isEmpty={(p) => p.plan.quotas.length === 0}
        empty={<EmptyState title="Your plan has no usage quotas" />}
      >
        {(p) => (
          <Stack gap="xs">
            <Text size="sm" c="dimmed">
              Limits of the {p.plan.name} plan, per calendar period in UTC.
            </Text>
            {p.plan.quotas.map((q) => (
              <QuotaBar key={`${q.meter}/${q.period}`} org={org} quota={q} />
            ))}
          </Stack>
        )}
      </QueryState>
    </HeadedSection>
  );
}

const resetText = (iso: string) =>
  new Date(iso).toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
  });

function QuotaBar({ org, quota }: { readonly org: string; readonly quota: Quota }) {
  const period = quotaPeriod(quota.period);
  const summary = useUsageSummary(org, { meter: quota.meter, granularity: 'day', ...period });
  const title = `${quota.meter} per ${quota.period}`;
  return (
    <Card withBorder padding="sm">
      <Stack gap={6}>
        <Group justify="space-between" gap="xs">
          <Text size="sm" fw={600} ff="monospace" className="break-anywhere">
            {title}
          </Text>
          <Badge variant="light" color={quota.enforcement === 'hard' ? 'red' : 'yellow'}>
            {quota.enforcement === 'hard' ? 'Hard limit' : 'Soft limit'}
          </Badge>
        </Group>
        <QueryState query={summary} what={`usage of ${quota.meter}`}>
          {(s) => {
            const used = combine(s.aggregation, s.buckets);
            const limit = BigInt(quota.limit) * 10n ** 12n;
            // Per mille of the limit, in integers; the bar's width only.
            const permille = limit > 0n ? Number((used.value * 1000n) / limit) : used.value > 0n ? 1000 : 0;
            const usedText = `${used.lowerBound ? 'at least ' : ''}${formatDecimal(fromScaled(used.value))}`;
            const label = `${title}: ${usedText} used of ${quota.limit.toLocaleString('en')}${s.unit ? ` ${s.unit}` : ''}`;
            return (
              <>
                <Text size="sm">
                  {usedText} / {quota.limit.toLocaleString('en')}
                  {s.unit ? ` ${s.unit}` : ''}
                </Text>
                <Progress.Root>
                  <Progress.Section
                    aria-label={label}
                    value={Math.min(100, permille / 10)}
                    color={permille >= 1000 ? 'red' : permille >= 800 ? 'orange' : 'blue'}
                  />
                </Progress.Root>
                <Text size="xs" c="dimmed">
                  Resets {resetText(period.to)} UTC.
                </Text>
              </>
            );
          }}
        </QueryState>
      </Stack>
    </Card>
  );
}
