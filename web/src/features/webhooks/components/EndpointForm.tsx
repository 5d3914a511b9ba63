import { useRef, useState, type FormEvent } from 'react';
import { Button, Group, MultiSelect, Stack, TextInput } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { newIdempotencyKey } from '../../api-keys/api/createApiKey';
import type { WebhookEndpointInput } from '../api/createWebhookEndpoint';

const FIELDS = ['url', 'eventTypes', 'description'];

/** The server's domain refusals that are about one field of the form. */
const CODES = {
  WEBHOOK_URL_INVALID: 'url',
  WEBHOOK_URL_NOT_ALLOWED: 'url',
  WEBHOOK_EVENT_TYPES_INVALID: 'eventTypes',
};

/** `*`, one wildcard per resource (`member.*`), then every type of the catalogue. */
export function filterChoices(types: readonly string[]): { group: string; items: string[] }[] {
  const resources = [...new Set(types.map((t) => t.split('.')[0]!))];
  return [
    { group: 'Everything', items: ['*'] },
    { group: 'Every event of a resource', items: resources.map((r) => `${r}.*`) },
    { group: 'One event type', items: [...types] },
  ];
}

/**
 * An endpoint's URL, event filter and description, with the server's validation errors next to each
 * field. Creating sends an Idempotency-Key; submitting the same draft again (after a failure) sends the
 * same key, so the server creates one endpoint.
 */
export function EndpointForm({
  initial,
  eventTypes,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  readonly initial?: WebhookEndpointInput;
  readonly eventTypes: readonly string[];
  readonly submitLabel: string;
  readonly pending: boolean;
  readonly error: unknown;
  readonly onSubmit: (input: WebhookEndpointInput & { idempotencyKey: string }) => void;
  readonly onCancel: () => void;
}) {
  const [url, setUrl] = useState(initial?.url ?? 'https://');
  const [types, setTypes] = useState<string[]>(initial?.eventTypes ?? []);
  const [description, setDescription] = useState(initial?.description ?? '');
  const [local, setLocal] = useState<Record<string, string>>({});
  const attempt = useRef<{ draft: string; key: string } | null>(null);
  const errors = { ...fieldErrorsOf(error, CODES), ...local };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found: Record<string, string> = {};
    if (!/^https?:\/\/[^/]+/.test(url.trim())) found.url = 'Enter the full URL, starting with https://';
    if (types.length === 0) found.eventTypes = 'Choose at least one event type (or * for every event).';
    setLocal(found);
    if (Object.keys(found).length > 0) return;
    const body = { url: url.trim(), eventTypes: types, description: description.trim() };
    const draft = JSON.stringify(body);
    if (attempt.current?.draft !== draft) attempt.current = { draft, key: newIdempotencyKey() };
    onSubmit({ ...body, idempotencyKey: attempt.current.key });
  };

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="md">
        <FormError error={error} fields={FIELDS} fieldErrors={errors} />
        <TextInput
          label="Endpoint URL"
          description="An https:// URL of your receiver. Private and loopback addresses are refused."
          required
          data-autofocus
          value={url}
          onChange={(e) => setUrl(e.currentTarget.value)}
          error={errors.url}
        />
        <MultiSelect
          label="Events"
          description="What this endpoint receives: one type, every event of a resource, or * for all."
          required
          searchable
          data={filterChoices(eventTypes)}
          value={types}
          onChange={(v) => {
            setTypes(v);
            setLocal(({ eventTypes: _, ...rest }) => rest);
          }}
          error={errors.eventTypes}
        />
        <TextInput
          label="Description"
          description="Optional: what the receiver is, for your colleagues"
          maxLength={500}
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          error={errors.description}
        />
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
