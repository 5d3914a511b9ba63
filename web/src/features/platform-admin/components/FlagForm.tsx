import { useState, type FormEvent, type ReactNode } from 'react';
import {
  Button,
  Checkbox,
  Divider,
  Group,
  Radio,
  Stack,
  Switch,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core';
import { FormError } from '../../../components/FormError';
import { newRollout, specOf, type FlagDraft, type Kind } from './flag-draft';
import { MONO } from './mono';
import { fieldMessages } from './field-messages';
import { RolloutFields } from './RolloutFields';
import { RulesEditor } from './RulesEditor';
import { ValueSelect } from './ValueSelect';
import { VariantsEditor } from './VariantsEditor';

const FIELDS = [
  'key',
  'description',
  'kind',
  'variants',
  'defaultValue',
  'offValue',
  'killed',
  'allowOrgOverride',
  'rules',
  'rollout',
] as const;

export type FlagSpecBody = Extract<ReturnType<typeof specOf>, { ok: true }>['spec'];

/**
 * Every field of a flag definition. Errors the browser can see (JSON that does not parse) and the
 * server's (names, percentages, weights) are drawn next to the field or section they are about.
 */
export function FlagForm({
  initial,
  editing,
  submitLabel,
  pending,
  error,
  notice,
  onSubmit,
  onCancel,
}: {
  readonly initial: FlagDraft;
  /** Editing a stored flag: its key cannot change. */
  readonly editing: boolean;
  readonly submitLabel: string;
  readonly pending: boolean;
  readonly error: unknown;
  /** Drawn above the buttons (a version conflict, with its "reload"). */
  readonly notice?: ReactNode;
  readonly onSubmit: (key: string, spec: FlagSpecBody) => void;
  readonly onCancel: () => void;
}) {
  const [d, setD] = useState<FlagDraft>(initial);
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = (patch: Partial<FlagDraft>) => setD((prev) => ({ ...prev, ...patch }));
  const server = fieldMessages(error, FIELDS, { FLAG_KEY_TAKEN: 'key' });
  const errors = { ...server, ...local };
  const setKind = (kind: Kind) => {
    const first = d.variants[0]?.uid ?? '';
    const choice = kind === 'boolean' ? 'false' : first;
    set({
      kind,
      defaultValue: choice,
      offValue: choice,
      rules: d.rules.map((r) => ({ ...r, value: choice, rollout: newRollout(kind, d.variants) })),
      rollout: newRollout(kind, d.variants),
    });
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const result = specOf(d);
    if (!result.ok) {
      setLocal(result.errors);
      return;
    }
    setLocal({});
    onSubmit(d.key.trim(), result.spec);
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <FormError error={error} fields={FIELDS} fieldErrors={server} />
        <TextInput
          label="Key"
          description="Lowercase letters, digits, dots, dashes and underscores; what the code reads"
          required
          disabled={editing}
          value={d.key}
          onChange={(e) => set({ key: e.currentTarget.value })}
          error={errors.key}
          styles={MONO}
          data-autofocus={editing ? undefined : true}
        />
        <Textarea
          label="Description"
          description="Optional; organizations that may override the flag see it"
          autosize
          minRows={1}
          value={d.description}
          onChange={(e) => set({ description: e.currentTarget.value })}
          error={errors.description}
        />
        <Radio.Group label="Kind" value={d.kind} onChange={(v) => setKind(v)} error={errors.kind}>
          <Group gap="md" mt={6}>
            <Radio value="boolean" label="Boolean (on/off)" />
            <Radio value="multivariate" label="Multivariate (variants)" />
          </Group>
        </Radio.Group>
        {d.kind === 'multivariate' ? (
          <Section title="Variants">
            <VariantsEditor
              variants={d.variants}
              onChange={(variants) => set({ variants })}
              error={errors.variants}
            />
          </Section>
        ) : null}
        <Section title="Values">
          <Group gap="sm" wrap="wrap" align="flex-start">
            <ValueSelect
              kind={d.kind}
              variants={d.variants}
              label="Default value"
              value={d.defaultValue}
              onChange={(defaultValue) => set({ defaultValue })}
              error={errors.defaultValue}
            />
            <ValueSelect
              kind={d.kind}
              variants={d.variants}
              label="Off value (while killed)"
              value={d.offValue}
              onChange={(offValue) => set({ offValue })}
              error={errors.offValue}
            />
          </Group>
          <Switch
            label="Kill switch: serve the off value to everyone, overrides and rules included"
            checked={d.killed}
            onChange={(e) => set({ killed: e.currentTarget.checked })}
            error={errors.killed}
          />
          <Checkbox
            label="Organizations may override it (their flag managers set their own value)"
            checked={d.allowOrgOverride}
            onChange={(e) => set({ allowOrgOverride: e.currentTarget.checked })}
            error={errors.allowOrgOverride}
          />
        </Section>
        <Section title="Targeting rules (first match wins)">
          <RulesEditor
            kind={d.kind}
            variants={d.variants}
            rules={d.rules}
            onChange={(rules) => set({ rules })}
            error={errors.rules}
          />
        </Section>
        <Section title="Rollout (organizations no rule matched)">
          <Checkbox
            label="Percentage rollout"
            checked={d.rolloutOn}
            onChange={(e) => set({ rolloutOn: e.currentTarget.checked })}
          />
          {d.rolloutOn ? (
            <RolloutFields
              name="Rollout"
              kind={d.kind}
              variants={d.variants}
              rollout={d.rollout}
              onChange={(rollout) => set({ rollout })}
            />
          ) : null}
          {errors.rollout ? (
            <Text size="sm" c="red" role="alert">
              {errors.rollout}
            </Text>
          ) : null}
        </Section>
        {notice}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function Section({ title, children }: { readonly title: string; readonly children: ReactNode }) {
  return (
    <>
      <Divider />
      <Title order={3} size="h5">
        {title}
      </Title>
      {children}
    </>
  );
}
