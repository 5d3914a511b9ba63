import { useId, useState } from 'react';
import { Button, Card, Group, Stack, Table, Text, Title } from '@mantine/core';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { useUsageSummary, type Granularity, type UsageSummary } from '../api/getUsageSummary';
import { bucketLabel, bucketStarts, combine, formatDecimal, fromScaled, toScaled } from './usage-math';

const HEIGHT = 120;

/**
 * One meter over the chosen range: SVG bars drawn by hand (an image with a text alternative that says
 * the total and the peak), and the same numbers as a table on demand.
 */
export function UsageChart({
  org,
  meter,
  granularity,
  from,
  to,
  rangeLabel,
}: {
  readonly org: string;
  readonly meter: string;
  readonly granularity: Granularity;
  readonly from: string;
  readonly to: string;
  readonly rangeLabel: string;
}) {
  const summary = useUsageSummary(org, { meter, granularity, from, to });
  const headingId = useId();
  return (
    <Card withBorder component="section" aria-labelledby={headingId}>
      <Stack gap="xs">
        <Title order={2} size="h4" id={headingId} ff="monospace" className="break-anywhere">
          {meter}
        </Title>
        <QueryState
          query={summary}
          what={`usage of ${meter}`}
          isEmpty={(s) => s.buckets.length === 0}
          empty={
            <EmptyState title={`No usage of ${meter} in this range`}>
              <Text size="sm" c="dimmed">
                Events appear here a few seconds after they are recorded.
              </Text>
            </EmptyState>
          }
        >
          {(s) => <Bars summary={s} granularity={granularity} rangeLabel={rangeLabel} />}
        </QueryState>
      </Stack>
    </Card>
  );
}

function Bars({
  summary,
  granularity,
  rangeLabel,
}: {
  readonly summary: UsageSummary;
  readonly granularity: Granularity;
  readonly rangeLabel: string;
}) {
  const [showTable, setShowTable] = useState(false);
  const tableId = useId();
  const byStart = new Map(summary.buckets.map((b) => [Date.parse(b.start), b]));
  const starts = bucketStarts(summary.from, summary.to, granularity);
  const scaled = starts.map((t) => toScaled(byStart.get(t)?.value ?? '0'));
  const peak = scaled.reduce((a, b) => (b > a ? b : a), 0n);
  const total = combine(summary.aggregation, summary.buckets);
  const unit = summary.unit ? ` ${summary.unit}` : '';
  const totalText = `${total.lowerBound ? 'at least ' : ''}${formatDecimal(fromScaled(total.value))}${unit}`;
  const totalLabel = summary.aggregation === 'count' || summary.aggregation === 'sum' ? 'Total' : 'Value';
  const peakText = `${formatDecimal(fromScaled(peak))}${unit}`;
  const width = Math.max(starts.length, 1);
  // Heights only (not the numbers shown): a ratio of two exact values, rounded for the drawing.
  const heightOf = (v: bigint) => (peak > 0n ? Number((v * 1000n) / peak) / 1000 : 0) * HEIGHT;
  return (
    <Stack gap="xs">
      <Group gap="lg">
        <Text size="sm" fw={600}>
          {totalLabel}: {totalText}
        </Text>
        <Text size="sm" c="dimmed">
          Peak {granularity}: {peakText}
        </Text>
        <Text size="sm" c="dimmed">
          {rangeLabel}, UTC
        </Text>
      </Group>
      <svg
        role="img"
        aria-label={`${summary.meter}, ${rangeLabel.toLowerCase()} by ${granularity}: ${totalLabel.toLowerCase()} ${totalText}, peak ${peakText}`}
        viewBox={`0 0 ${width} ${HEIGHT}`}
        preserveAspectRatio="none"
        className="usage-chart"
      >
        <line x1={0} y1={HEIGHT} x2={width} y2={HEIGHT} className="usage-chart-axis" />
        {scaled.map((v, i) =>
          v > 0n ? (
            <rect
              key={starts[i]}
              x={i + 0.1}
              width={0.8}
              y={HEIGHT - heightOf(v)}
              height={Math.max(heightOf(v), 0.5)}
              className="usage-chart-bar"
            />
          ) : null,
        )}
      </svg>
      <Group justify="space-between">
        <Text size="xs" c="dimmed">
          {bucketLabel(starts[0] ?? Date.parse(summary.from), granularity)}
        </Text>
        <Text size="xs" c="dimmed">
          {bucketLabel(starts[starts.length - 1] ?? Date.parse(summary.to), granularity)}
        </Text>
      </Group>
      <Button
        variant="subtle"
        size="compact-sm"
        style={{ alignSelf: 'flex-start' }}
        aria-expanded={showTable}
        aria-controls={tableId}
        onClick={() => setShowTable((s) => !s)}
      >
        {showTable ? 'Hide data table' : 'Show data table'}
        <span className="visually-hidden"> of {summary.meter}</span>
      </Button>
      <div id={tableId} hidden={!showTable}>
        {showTable ? (
          <Table.ScrollContainer minWidth={320} mah={320}>
            <Table striped aria-label={`Usage of ${summary.meter} by ${granularity}`}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{granularity === 'day' ? 'Day' : 'From'} (UTC)</Table.Th>
                  <Table.Th ta="right">Value{summary.unit ? ` (${summary.unit})` : ''}</Table.Th>
                  <Table.Th ta="right">Events</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {summary.buckets.map((b) => (
                  <Table.Tr key={b.start}>
                    <Table.Td>{bucketLabel(Date.parse(b.start), granularity)}</Table.Td>
                    <Table.Td ta="right">{formatDecimal(b.value)}</Table.Td>
                    <Table.Td ta="right">{b.events.toLocaleString('en')}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
            <Text size="xs" c="dimmed" mt={4}>
              Buckets without usage are left out.
            </Text>
          </Table.ScrollContainer>
        ) : null}
      </div>
    </Stack>
  );
}
