import { Select } from '@mantine/core';
import type { Kind, VariantDraft } from './flag-draft';

/** One of the values a flag can take: on/off, or one of its variants. */
export function ValueSelect({
  kind,
  variants,
  label,
  value,
  onChange,
  error,
}: {
  readonly kind: Kind;
  readonly variants: readonly VariantDraft[];
  readonly label: string;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly error?: string;
}) {
  const data =
    kind === 'boolean'
      ? [
          { value: 'true', label: 'on (true)' },
          { value: 'false', label: 'off (false)' },
        ]
      : variants.map((v, i) => ({ value: v.uid, label: v.key || `variant ${i + 1}` }));
  return (
    <Select
      label={label}
      data={data}
      value={data.some((d) => d.value === value) ? value : null}
      onChange={(v) => v !== null && onChange(v)}
      allowDeselect={false}
      placeholder="Choose a value"
      error={error}
    />
  );
}
