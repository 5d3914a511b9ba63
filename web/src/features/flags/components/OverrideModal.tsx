import { useState } from 'react';
import { Alert, Button, Group, Modal, Select, Stack, Switch, Text } from '@mantine/core';
import { describeError, isApiError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import type { FlagEvaluation } from '../api/evaluateFlags';
import type { OverridableFlag } from '../api/listOverridableFlags';
import { useSetFlagOverride } from '../api/setFlagOverride';
import { canonicalJson, formatFlagValue } from './flag-value';

/** Sets this organization's value of a flag that allows it: a switch (boolean) or a variant (multivariate). */
export function OverrideModal({
  org,
  flag,
  current,
  onClose,
}: {
  readonly org: string;
  readonly flag: OverridableFlag | null;
  readonly current: FlagEvaluation | undefined;
  readonly onClose: () => void;
}) {
  const set = useSetFlagOverride(org);
  const close = () => {
    set.reset();
    onClose();
  };
  return (
    <Modal opened={flag !== null} onClose={close} title={flag ? `Override ${flag.key}` : 'Override'}>
      {flag ? (
        <OverrideForm
          key={flag.key}
          flag={flag}
          initial={flag.override?.value ?? current?.value}
          pending={set.isPending}
          error={set.error}
          onCancel={close}
          onSubmit={(value) =>
            set.mutate(
              { key: flag.key, value },
              {
                onSuccess: () => {
                  notifySuccess(`${flag.key} is now ${formatFlagValue(value)} for this organization`);
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

function OverrideForm({
  flag,
  initial,
  pending,
  error,
  onCancel,
  onSubmit,
}: {
  readonly flag: OverridableFlag;
  readonly initial: unknown;
  readonly pending: boolean;
  readonly error: unknown;
  readonly onCancel: () => void;
  readonly onSubmit: (value: unknown) => void;
}) {
  const variantOf = (v: unknown) =>
    flag.variants.find((x) => canonicalJson(x.value) === canonicalJson(v))?.key;
  const [on, setOn] = useState(initial === true);
  const [variant, setVariant] = useState<string | null>(variantOf(initial) ?? flag.variants[0]?.key ?? null);
  const value = flag.kind === 'boolean' ? on : flag.variants.find((v) => v.key === variant)?.value;
  return (
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(value);
      }}
    >
      <Stack gap="sm">
        {flag.description ? <Text size="sm">{flag.description}</Text> : null}
        <Text size="sm" c="dimmed">
          The override replaces the platform’s targeting for every member of this organization, until you
          remove it. A kill switch still wins over it.
        </Text>
        {flag.kind === 'boolean' ? (
          <Switch
            label={`${flag.key}: ${on ? 'on' : 'off'}`}
            checked={on}
            onChange={(e) => setOn(e.currentTarget.checked)}
            data-autofocus
          />
        ) : (
          <Select
            label="Variant"
            data={flag.variants.map((v) => ({
              value: v.key,
              label: `${v.key} (${formatFlagValue(v.value)})`,
            }))}
            value={variant}
            onChange={setVariant}
            allowDeselect={false}
            data-autofocus
          />
        )}
        {error ? <OverrideError error={error} /> : null}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending} disabled={flag.kind === 'multivariate' && !variant}>
            Save override
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** The server's refusal, with why it happens. */
function OverrideError({ error }: { readonly error: unknown }) {
  const notAllowed = isApiError(error, 409, 'FLAG_OVERRIDE_NOT_ALLOWED');
  const gone = isApiError(error, 404, 'FLAG_NOT_FOUND');
  return (
    <Alert
      color="red"
      role="alert"
      title={notAllowed ? 'Overrides are not allowed for this flag' : 'That did not work'}
    >
      <Text size="sm">{describeError(error)}</Text>
      {notAllowed ? (
        <Text size="sm" mt="xs">
          The platform administrators decide which flags organizations may override, and this one no longer
          allows it (it changed after this page loaded). The list has been refreshed.
        </Text>
      ) : null}
      {gone ? (
        <Text size="sm" mt="xs">
          The flag was deleted after this page loaded. The list has been refreshed.
        </Text>
      ) : null}
    </Alert>
  );
}
