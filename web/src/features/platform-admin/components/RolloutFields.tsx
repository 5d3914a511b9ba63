import { Group, NumberInput, Radio, Select, Stack } from '@mantine/core';
import type { Kind, RolloutDraft, VariantDraft } from './flag-draft';
import { ValueSelect } from './ValueSelect';

/**
 * A percentage rollout: who is bucketed (organization or user), and either one value for a percentage
 * of them or, for a multivariate flag, a weight per variant adding up to 100.
 */
export function RolloutFields({
  name,
  kind,
  variants,
  rollout,
  onChange,
}: {
  /** Names the controls ("Rollout", "Rule 2 rollout"). */
  readonly name: string;
  readonly kind: Kind;
  readonly variants: readonly VariantDraft[];
  readonly rollout: RolloutDraft;
  readonly onChange: (rollout: RolloutDraft) => void;
}) {
  const set = (patch: Partial<RolloutDraft>) => onChange({ ...rollout, ...patch });
  const weights = kind === 'multivariate' && rollout.mode === 'weights';
  return (
    <Stack gap="xs">
      <Group gap="sm" align="flex-end" wrap="wrap">
        <Select
          label={`${name}: bucket by`}
          data={[
            { value: 'organization', label: 'Organization' },
            { value: 'user', label: 'User' },
          ]}
          value={rollout.by}
          onChange={(v) => v && set({ by: v })}
          allowDeselect={false}
          w={200}
        />
        {kind === 'multivariate' ? (
          <Radio.Group label={`${name}: serve`} value={rollout.mode} onChange={(v) => set({ mode: v })}>
            <Group gap="sm" mt={6}>
              <Radio value="percentage" label="One value to a percentage" />
              <Radio value="weights" label="Split by weights" />
            </Group>
          </Radio.Group>
        ) : null}
      </Group>
      {weights ? (
        <Group gap="sm" wrap="wrap">
          {variants.map((v, i) => (
            <NumberInput
              key={v.uid}
              label={`${name}: weight of ${v.key || `variant ${i + 1}`} (%)`}
              min={0}
              max={100}
              decimalScale={2}
              value={rollout.weights[v.uid] ?? 0}
              onChange={(w) => set({ weights: { ...rollout.weights, [v.uid]: w } })}
              w={200}
            />
          ))}
        </Group>
      ) : (
        <Group gap="sm" wrap="wrap" align="flex-start">
          <NumberInput
            label={`${name}: percentage`}
            description="0 to 100, two decimals at most"
            min={0}
            max={100}
            decimalScale={2}
            suffix=" %"
            value={rollout.percentage}
            onChange={(p) => set({ percentage: p })}
            w={200}
          />
          <ValueSelect
            kind={kind}
            variants={variants}
            label={`${name}: value served`}
            value={rollout.value}
            onChange={(value) => set({ value })}
          />
        </Group>
      )}
    </Stack>
  );
}
