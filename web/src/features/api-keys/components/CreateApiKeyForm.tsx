import { useRef, useState, type FormEvent } from 'react';
import { Button, Checkbox, Group, NumberInput, Select, Stack, Text, TextInput } from '@mantine/core';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { newIdempotencyKey, type CreateApiKeyInput } from '../api/createApiKey';
import { describeScope, grantableScopes, resourceLabel } from './scopes';

const EXPIRY_OPTIONS = [
  { value: 'never', label: 'No expiry' },
  { value: '7', label: 'In 7 days' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In a year' },
  { value: 'date', label: 'On a date…' },
];

const FIELDS = ['name', 'scopes', 'expiresAt', 'rateLimitPerMinute'];

/** The server's domain refusals that are about one field of the form. */
const CODES = {
  API_KEY_SCOPES_NOT_ALLOWED: 'scopes',
  API_KEY_SCOPES_INVALID: 'scopes',
  API_KEY_EXPIRY_INVALID: 'expiresAt',
};

/** The expiry chosen, as the API's date-time: the end of the chosen day (local time). */
function expiresAtOf(choice: string, date: string): string | undefined {
  if (choice === 'never') return undefined;
  if (choice === 'date') {
    if (!date) return undefined;
    const end = new Date(`${date}T23:59:59.999`);
    return Number.isNaN(end.getTime()) ? date : end.toISOString();
  }
  return new Date(Date.now() + Number(choice) * 86_400_000).toISOString();
}

/**
 * The fields of a new API key: name, scopes (only the permissions the member holds), expiry and rate
 * limit, with the server's validation errors next to each. Every submission carries an Idempotency-Key;
 * submitting the same draft again (after a failure) sends the same key, so the server creates one key.
 */
export function CreateApiKeyForm({
  can,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  readonly can: (p: Permission) => boolean;
  readonly pending: boolean;
  readonly error: unknown;
  readonly onSubmit: (input: CreateApiKeyInput) => void;
  readonly onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [expiry, setExpiry] = useState('90');
  const [date, setDate] = useState('');
  const [rateLimit, setRateLimit] = useState<string | number>('');
  const [local, setLocal] = useState<Record<string, string>>({});
  const attempt = useRef<{
    draft: string;
    body: Omit<CreateApiKeyInput, 'idempotencyKey'>;
    key: string;
  } | null>(null);
  const groups = grantableScopes(can);
  // What the form itself checks before sending (the server checks everything again).
  const errors = { ...fieldErrorsOf(error, CODES), ...local };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found: Record<string, string> = {};
    if (scopes.length === 0) found.scopes = 'Choose at least one scope: a key without any can do nothing.';
    if (expiry === 'date' && !date) found.expiresAt = 'Choose the day the key expires.';
    setLocal(found);
    if (Object.keys(found).length > 0) return;
    // The same draft submitted again (after a failure) is a retry of the same request: the same body
    // (a relative expiry is not recomputed) with the same Idempotency-Key.
    const draft = JSON.stringify({ name, scopes, expiry, date, rateLimit });
    if (attempt.current?.draft !== draft) {
      const expiresAt = expiresAtOf(expiry, date);
      const body = {
        name,
        scopes,
        ...(expiresAt !== undefined && { expiresAt }),
        ...(rateLimit !== '' && { rateLimitPerMinute: Number(rateLimit) }),
      };
      attempt.current = { draft, body, key: newIdempotencyKey() };
    }
    onSubmit({ ...attempt.current.body, idempotencyKey: attempt.current.key });
  };

  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="md">
        <FormError error={error} fields={FIELDS} fieldErrors={errors} />
        <TextInput
          label="Name"
          description="Who or what uses it, e.g. “CI deploys”"
          required
          data-autofocus
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name}
        />
        <Checkbox.Group
          label="Scopes"
          description="What the key may do. Only the permissions your role holds can be given."
          required
          value={scopes}
          onChange={(v) => {
            setScopes(v);
            setLocal(({ scopes: _, ...rest }) => rest);
          }}
          error={errors.scopes}
        >
          <Stack gap="sm" mt="xs">
            {groups.map((g) => (
              <Stack key={g.resource} gap={6}>
                <Text size="sm" fw={600}>
                  {resourceLabel(g.resource)}
                </Text>
                {g.scopes.map((p) => (
                  <Checkbox key={p} value={p} label={p} description={describeScope(p)} />
                ))}
              </Stack>
            ))}
          </Stack>
        </Checkbox.Group>
        <Group grow align="flex-start" wrap="wrap">
          <Select
            label="Expires"
            data={EXPIRY_OPTIONS}
            value={expiry}
            onChange={(v) => setExpiry(v ?? 'never')}
            allowDeselect={false}
            miw={180}
            error={expiry === 'date' ? undefined : errors.expiresAt}
          />
          {expiry === 'date' ? (
            <TextInput
              type="date"
              label="Expiry date"
              description="The key stops working at the end of this day"
              required
              value={date}
              onChange={(e) => setDate(e.currentTarget.value)}
              error={errors.expiresAt}
              miw={180}
            />
          ) : null}
        </Group>
        <NumberInput
          label="Rate limit (requests per minute)"
          description="Optional: 600 when left empty"
          placeholder="600"
          allowDecimal={false}
          allowNegative={false}
          clampBehavior="none"
          value={rateLimit}
          onChange={setRateLimit}
          error={errors.rateLimitPerMinute}
        />
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending}>
            Create key
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
