import '../usage.css';
import { useState } from 'react';
import { Button, Group, Input, SegmentedControl, Select, Stack, TextInput, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import { useOrg } from '../../organizations/components/org-context';
import { organizationPlanQueryOptions } from '../../billing/api/getOrganizationPlan';
import { usageKey, type Granularity } from '../api/getUsageSummary';
import { QuotaBars } from '../components/QuotaBars';
import { UsageChart } from '../components/UsageChart';
import { RANGES, rangeEndingNow } from '../components/usage-math';

/** The meter every organization has (seeded by the migration): its tenant-scoped API requests. */
const BUILT_IN = 'api_requests';
const METER_KEY = /^[a-z][a-z0-9_.-]{0,63}$/;
const GRANULARITIES: Granularity[] = ['minute', 'hour', 'day'];

const isGranularity = (g: string | null): g is Granularity => GRANULARITIES.includes(g as Granularity);

/**
 * The organization's usage (`usage:read`): a chart per meter over a range at the chosen granularity,
 * and (with `billing:read`) the plan's quotas against this period's usage. The meters shown are the
 * built-in one, the plan's quota meters and any added by key; the choice lives in the address, so a
 * link shows the same charts.
 */
export default function UsagePage() {
  const { org, can } = useOrg();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const granularity: Granularity = isGranularity(params.get('granularity'))
    ? (params.get('granularity') as Granularity)
    : 'hour';
  const ranges = RANGES[granularity];
  const rangeIndex = Math.min(Math.max(Number(params.get('range') ?? 0) || 0, 0), ranges.length - 1);
  const range = ranges[rangeIndex]!;
  // The range is fixed when chosen (or refreshed): the charts do not move while being read.
  const [now, setNow] = useState(() => Date.now());
  const { from, to } = rangeEndingNow(granularity, range.buckets, now);

  const readsBilling = can('billing:read');
  const plan = useQuery({ ...organizationPlanQueryOptions(org.slug), enabled: readsBilling });
  const planMeters = readsBilling ? (plan.data?.plan.quotas.map((q) => q.meter) ?? []) : [];
  const added = params.getAll('meter').filter((m) => METER_KEY.test(m));
  const meters = [...new Set([BUILT_IN, ...planMeters, ...added])];

  const update = (change: (p: URLSearchParams) => void) => {
    const next = new URLSearchParams(params);
    change(next);
    setParams(next, { replace: true });
    setNow(Date.now()); // a new range ends now, not when the page was opened
  };
  const refresh = () => {
    setNow(Date.now());
    void qc.invalidateQueries({ queryKey: usageKey(org.slug) });
  };

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <Title order={1} size="h2">
          Usage
        </Title>
        <Button variant="default" onClick={refresh}>
          Refresh
        </Button>
      </Group>
      <Group gap="md" align="flex-end" wrap="wrap">
        <Stack gap={4}>
          <Input.Label component="div" id="granularity-label">
            Granularity
          </Input.Label>
          <SegmentedControl
            aria-labelledby="granularity-label"
            value={granularity}
            data={GRANULARITIES.map((g) => ({ value: g, label: g[0]!.toUpperCase() + g.slice(1) }))}
            onChange={(g) =>
              update((p) => {
                p.set('granularity', g);
                p.delete('range');
              })
            }
          />
        </Stack>
        <Select
          label="Range"
          value={String(rangeIndex)}
          data={ranges.map((r, i) => ({ value: String(i), label: r.label }))}
          allowDeselect={false}
          onChange={(v) => update((p) => p.set('range', v ?? '0'))}
          w={180}
        />
        <AddMeter onAdd={(m) => update((p) => p.append('meter', m))} known={meters} />
      </Group>
      {readsBilling ? <QuotaBars org={org.slug} /> : null}
      <Stack gap="sm" component="section" aria-labelledby="meters">
        <Title order={2} size="h3" id="meters">
          Meters
        </Title>
        {meters.map((m) => (
          <UsageChart
            key={m}
            org={org.slug}
            meter={m}
            granularity={granularity}
            from={from}
            to={to}
            rangeLabel={range.label}
          />
        ))}
      </Stack>
    </Stack>
  );
}

/** Shows another meter by its key (meters are defined by the platform's administrators). */
function AddMeter({ onAdd, known }: { readonly onAdd: (m: string) => void; readonly known: string[] }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = () => {
    const key = value.trim();
    if (!METER_KEY.test(key)) {
      setError('A meter key: lower case letters, digits, _ . and -');
      return;
    }
    setError(null);
    setValue('');
    if (!known.includes(key)) onAdd(key);
  };
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <Group gap="xs" align="flex-end">
        <TextInput
          label="Show a meter"
          placeholder="meter key"
          value={value}
          error={error}
          onChange={(e) => setValue(e.currentTarget.value)}
          w={200}
        />
        <Button type="submit" variant="light">
          Show
        </Button>
      </Group>
    </form>
  );
}
