import { ActionIcon, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import { uid, type VariantDraft } from './flag-draft';
import { MONO } from './mono';

/** A multivariate flag's variants: a key for people and any JSON value (2 to 100). */
export function VariantsEditor({
  variants,
  onChange,
  error,
}: {
  readonly variants: readonly VariantDraft[];
  readonly onChange: (variants: VariantDraft[]) => void;
  readonly error?: string;
}) {
  const set = (i: number, patch: Partial<VariantDraft>) =>
    onChange(variants.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  return (
    <Stack gap="xs">
      {variants.map((v, i) => (
        <Group key={v.uid} gap="xs" align="flex-end" wrap="nowrap">
          <TextInput
            label={`Variant ${i + 1} key`}
            value={v.key}
            onChange={(e) => set(i, { key: e.currentTarget.value })}
            style={{ flex: 1, minWidth: 0 }}
          />
          <TextInput
            label={`Variant ${i + 1} value (JSON)`}
            value={v.json}
            onChange={(e) => set(i, { json: e.currentTarget.value })}
            styles={MONO}
            style={{ flex: 1, minWidth: 0 }}
          />
          <ActionIcon
            variant="subtle"
            color="red"
            size="lg"
            aria-label={`Remove variant ${i + 1}`}
            disabled={variants.length <= 2}
            onClick={() => onChange(variants.filter((_, j) => j !== i))}
          >
            ×
          </ActionIcon>
        </Group>
      ))}
      {error ? (
        <Text size="sm" c="red" role="alert">
          {error}
        </Text>
      ) : null}
      <Button
        variant="default"
        size="compact-sm"
        style={{ alignSelf: 'flex-start' }}
        onClick={() => onChange([...variants, { uid: uid('v'), key: '', json: '""' }])}
      >
        Add variant
      </Button>
    </Stack>
  );
}
