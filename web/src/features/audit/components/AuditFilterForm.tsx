import { useState, type FormEvent } from 'react';
import { Autocomplete, Button, Group, Select, Stack, TextInput } from '@mantine/core';
import type { AuditFilters } from '../api/listAuditLogs';
import { ACTION_SUGGESTIONS, ACTOR_TYPES, fromLocalInput, toLocalInput } from './filters';

const ACTOR_TYPE_OPTIONS = [
  { value: 'any', label: 'Any' },
  ...ACTOR_TYPES.map((t) => ({ value: t, label: t === 'api_key' ? 'API key' : t })),
];

export type FilterDraft = Record<keyof AuditFilters, string>;

/** The filters typed as text (or a local date and time), in the order the form shows them. */
const TEXT_FILTERS: readonly {
  field: keyof FilterDraft;
  label: string;
  description: string;
  type?: 'datetime-local';
}[] = [
  { field: 'actor', label: 'Actor', description: 'A user, API key or system id' },
  { field: 'targetType', label: 'Target type', description: 'e.g. project, api_key, member' },
  { field: 'targetId', label: 'Target id', description: 'The id of what was acted on' },
  { field: 'from', label: 'From', description: 'On or after (your local time)', type: 'datetime-local' },
  { field: 'to', label: 'To', description: 'Before (your local time)', type: 'datetime-local' },
];

/**
 * Every filter the API has. Applying writes them to the URL (the page reads them back from there);
 * the server's validation errors (`errors`, by field) are drawn next to their fields.
 */
export function AuditFilterForm({
  filters,
  errors,
  onApply,
}: {
  readonly filters: AuditFilters;
  readonly errors: Readonly<Record<string, string>>;
  readonly onApply: (draft: FilterDraft) => void;
}) {
  const [draft, setDraft] = useState<FilterDraft>(() => ({
    actor: filters.actor ?? '',
    actorType: filters.actorType ?? '',
    action: filters.action ?? '',
    targetType: filters.targetType ?? '',
    targetId: filters.targetId ?? '',
    from: toLocalInput(filters.from),
    to: toLocalInput(filters.to),
  }));
  const set = (field: keyof FilterDraft) => (value: string) => setDraft((d) => ({ ...d, [field]: value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({ ...draft, from: fromLocalInput(draft.from), to: fromLocalInput(draft.to) });
  };
  const clear = () => {
    const empty = { actor: '', actorType: '', action: '', targetType: '', targetId: '', from: '', to: '' };
    setDraft(empty);
    onApply(empty);
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Filter the audit log">
      <Stack gap="sm">
        <div className="audit-filters">
          <Autocomplete
            label="Action"
            description="Exact, or a prefix such as member.*"
            data={ACTION_SUGGESTIONS}
            value={draft.action}
            onChange={set('action')}
            error={errors.action}
          />
          <Select
            label="Actor type"
            description="Who acted"
            data={ACTOR_TYPE_OPTIONS}
            value={draft.actorType || 'any'}
            onChange={(v) => set('actorType')(!v || v === 'any' ? '' : v)}
            allowDeselect={false}
            error={errors.actorType}
          />
          {TEXT_FILTERS.map((f) => (
            <TextInput
              key={f.field}
              type={f.type}
              label={f.label}
              description={f.description}
              value={draft[f.field]}
              onChange={(e) => set(f.field)(e.currentTarget.value)}
              error={errors[f.field]}
            />
          ))}
        </div>
        <Group gap="sm">
          <Button type="submit">Apply filters</Button>
          <Button variant="default" onClick={clear}>
            Clear filters
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
