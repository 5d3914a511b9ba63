import { useState, type FormEvent } from 'react';
import { Autocomplete, Button, Group, Select, Stack, TextInput } from '@mantine/core';
import type { AuditFilters } from '../api/listAuditLogs';
import { ACTION_SUGGESTIONS, ACTOR_TYPES, fromLocalInput, toLocalInput } from './filters';

const ACTOR_TYPE_OPTIONS = [
  { value: 'any', label: 'Any' },
  ...ACTOR_TYPES.map((t) => ({ value: t, label: t === 'api_key' ? 'API key' : t })),
];

export type FilterDraft = Record<keyof AuditFilters, string>;

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
          <TextInput
            label="Actor"
            description="A user, API key or system id"
            value={draft.actor}
            onChange={(e) => set('actor')(e.currentTarget.value)}
            error={errors.actor}
          />
          <TextInput
            label="Target type"
            description="e.g. project, api_key, member"
            value={draft.targetType}
            onChange={(e) => set('targetType')(e.currentTarget.value)}
            error={errors.targetType}
          />
          <TextInput
            label="Target id"
            description="The id of what was acted on"
            value={draft.targetId}
            onChange={(e) => set('targetId')(e.currentTarget.value)}
            error={errors.targetId}
          />
          <TextInput
            type="datetime-local"
            label="From"
            description="On or after (your local time)"
            value={draft.from}
            onChange={(e) => set('from')(e.currentTarget.value)}
            error={errors.from}
          />
          <TextInput
            type="datetime-local"
            label="To"
            description="Before (your local time)"
            value={draft.to}
            onChange={(e) => set('to')(e.currentTarget.value)}
            error={errors.to}
          />
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
