import { Button, Group, Paper, Radio, Stack, TagsInput, Text, TextInput } from '@mantine/core';
import { newRule, type Kind, type RuleDraft, type VariantDraft } from './flag-draft';
import { MONO } from './mono';
import { RolloutFields } from './RolloutFields';
import { ValueSelect } from './ValueSelect';

/**
 * Ordered targeting rules: the first whose plans and attributes all match an organization decides its
 * value (or its rollout).
 */
export function RulesEditor({
  kind,
  variants,
  rules,
  onChange,
  error,
}: {
  readonly kind: Kind;
  readonly variants: readonly VariantDraft[];
  readonly rules: readonly RuleDraft[];
  readonly onChange: (rules: RuleDraft[]) => void;
  readonly error?: string;
}) {
  const set = (i: number, patch: Partial<RuleDraft>) =>
    onChange(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const move = (i: number, by: -1 | 1) => {
    const out = [...rules];
    const [r] = out.splice(i, 1);
    out.splice(i + by, 0, r!);
    onChange(out);
  };
  return (
    <Stack gap="sm">
      {rules.length === 0 ? (
        <Text size="sm" c="dimmed">
          No rules: every organization gets the rollout or the default value.
        </Text>
      ) : null}
      {rules.map((r, i) => {
        const name = `Rule ${i + 1}`;
        return (
          <Paper key={r.uid} withBorder p="sm" role="group" aria-label={name}>
            <Stack gap="xs">
              <Group justify="space-between" wrap="wrap" gap="xs">
                <Text fw={600} size="sm">
                  {name}
                </Text>
                <Group gap={4}>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    disabled={i === 0}
                    aria-label={`Move rule ${i + 1} up`}
                    onClick={() => move(i, -1)}
                  >
                    Up
                  </Button>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    disabled={i === rules.length - 1}
                    aria-label={`Move rule ${i + 1} down`}
                    onClick={() => move(i, 1)}
                  >
                    Down
                  </Button>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    color="red"
                    aria-label={`Remove rule ${i + 1}`}
                    onClick={() => onChange(rules.filter((_, j) => j !== i))}
                  >
                    Remove
                  </Button>
                </Group>
              </Group>
              <TagsInput
                label={`${name}: plans`}
                description="Any of these plans (Enter after each); empty for any plan"
                value={[...r.plans]}
                onChange={(plans) => set(i, { plans })}
                clearable
              />
              <TextInput
                label={`${name}: attributes (JSON)`}
                description='Every attribute must have one of its values, e.g. {"region": ["eu", "us"]}'
                value={r.attributes}
                onChange={(e) => set(i, { attributes: e.currentTarget.value })}
                styles={MONO}
              />
              <Radio.Group label={`${name}: serve`} value={r.serve} onChange={(v) => set(i, { serve: v })}>
                <Group gap="sm" mt={6}>
                  <Radio value="value" label="A value" />
                  <Radio value="rollout" label="A percentage rollout" />
                </Group>
              </Radio.Group>
              {r.serve === 'value' ? (
                <ValueSelect
                  kind={kind}
                  variants={variants}
                  label={`${name}: value`}
                  value={r.value}
                  onChange={(value) => set(i, { value })}
                />
              ) : (
                <RolloutFields
                  name={`${name} rollout`}
                  kind={kind}
                  variants={variants}
                  rollout={r.rollout}
                  onChange={(rollout) => set(i, { rollout })}
                />
              )}
            </Stack>
          </Paper>
        );
      })}
      {error ? (
        <Text size="sm" c="red" role="alert">
          {error}
        </Text>
      ) : null}
      <Button
        variant="default"
        size="compact-sm"
        style={{ alignSelf: 'flex-start' }}
        onClick={() => onChange([...rules, newRule(kind, variants)])}
      >
        Add rule
      </Button>
    </Stack>
  );
}
