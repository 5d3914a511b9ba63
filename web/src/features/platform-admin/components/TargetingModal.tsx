import { useState, type FormEvent } from 'react';
import { Autocomplete, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { FormError } from '../../../components/FormError';
import { notifySuccess } from '../../../components/notify';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { useUpdateOrganizationTargeting } from '../api/updateOrganizationTargeting';
import { fieldMessages } from './field-messages';
import { MONO } from './mono';

type Attributes = Record<string, string | number | boolean>;

/** The seeded plans; any other plan of the catalog (Plans screen) can be typed, an unknown one is refused. */
const KNOWN_PLANS = ['free', 'pro', 'enterprise'];

/** Reads the attributes editor: an object of strings, numbers and booleans, or why not. */
export function parseAttributes(
  text: string,
): { ok: true; value: Attributes } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, error: 'Attributes must be a JSON object, like {"region": "eu", "seats": 40}.' };
  }
  for (const [name, v] of Object.entries(parsed)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) {
      return { ok: false, error: `“${name}” must be a string, a number or a boolean.` };
    }
  }
  return { ok: true, value: parsed as Attributes };
}

/** An organization's plan and attributes, which feature flag rules target. */
export function TargetingModal({
  org,
  onClose,
}: {
  readonly org: PlatformOrganization | null;
  readonly onClose: () => void;
}) {
  const update = useUpdateOrganizationTargeting();
  const close = () => {
    update.reset();
    onClose();
  };
  return (
    <Modal opened={org !== null} onClose={close} title={org ? `Plan and attributes of ${org.name}` : 'Plan'}>
      {org ? (
        <TargetingForm
          key={org.id}
          org={org}
          pending={update.isPending}
          error={update.error}
          onCancel={close}
          onSubmit={(patch) =>
            update.mutate(
              { id: org.id, ...patch },
              {
                onSuccess: () => {
                  notifySuccess(`${org.name}: plan and attributes saved`);
                  close();
                },
              },
            )
          }
        />
      ) : null}
    </Modal>
  );
}

function TargetingForm({
  org,
  pending,
  error,
  onCancel,
  onSubmit,
}: {
  readonly org: PlatformOrganization;
  readonly pending: boolean;
  readonly error: unknown;
  readonly onCancel: () => void;
  readonly onSubmit: (patch: { plan: string; attributes: Attributes }) => void;
}) {
  const [plan, setPlan] = useState(org.plan);
  const [attributes, setAttributes] = useState(JSON.stringify(org.attributes, null, 2));
  const [parseError, setParseError] = useState<string | null>(null);
  const server = fieldMessages(error, ['plan', 'attributes']);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseAttributes(attributes);
    if (!parsed.ok) {
      setParseError(parsed.error);
      return;
    }
    setParseError(null);
    onSubmit({ plan: plan.trim(), attributes: parsed.value });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          Feature flag rules target an organization by plan and attributes. A change applies to its next flag
          evaluation and is recorded in its audit log.
        </Text>
        <FormError error={error} fields={['plan', 'attributes']} fieldErrors={server} />
        <Autocomplete
          label="Plan"
          description="Lowercase letters, digits, dashes and underscores (up to 40)"
          data={[...new Set([org.plan, ...KNOWN_PLANS])]}
          value={plan}
          onChange={setPlan}
          error={server.plan}
          data-autofocus
        />
        <Textarea
          label="Attributes"
          description='A JSON object of up to 50 strings, numbers or booleans, e.g. {"region": "eu", "seats": 40}'
          autosize
          minRows={4}
          maxRows={14}
          value={attributes}
          styles={MONO}
          onChange={(e) => {
            setAttributes(e.currentTarget.value);
            if (parseError) setParseError(null);
          }}
          error={parseError ?? server.attributes}
        />
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending}>
            Save
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
