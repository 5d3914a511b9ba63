import { useEffect, useState } from 'react';
import { Alert, Button, Group, Modal, Select, Stack, Text, TextInput, Textarea } from '@mantine/core';
import { ApiError, describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { useCreateMeter, useUpdateMeter, type CreateMeterBody, type Meter } from '../api/platformMeters';

const AGGREGATIONS: { value: CreateMeterBody['aggregation']; label: string }[] = [
  { value: 'count', label: 'count: occurrences (value is a weight)' },
  { value: 'sum', label: 'sum: of the value or a property' },
  { value: 'max', label: 'max: greatest value or property' },
  { value: 'unique_count', label: 'unique_count: distinct values of a property' },
  { value: 'latest', label: 'latest: the last value or property' },
];

/** The server's message for one field of a `VALIDATION_FAILED` answer, if it named that field. */
const fieldError = (err: unknown, field: string) =>
  err instanceof ApiError ? (err.fieldErrors()[field] ?? null) : null;

/** The failed mutation's message, above the fields. */
function FailureAlert({ error }: { readonly error: unknown }) {
  return error ? (
    <Alert color="red" role="alert" title="That did not work">
      {describeError(error)}
    </Alert>
  ) : null;
}

/** Unit and description: the fields a meter takes at creation and may change afterwards. */
interface UnitDescription {
  readonly unit: string;
  readonly description: string;
}

const NO_TEXT: UnitDescription = { unit: '', description: '' };

function UnitDescriptionFields({
  value,
  onChange,
}: {
  readonly value: UnitDescription;
  readonly onChange: (v: UnitDescription) => void;
}) {
  return (
    <>
      <TextInput
        label="Unit"
        value={value.unit}
        maxLength={32}
        onChange={(e) => onChange({ ...value, unit: e.currentTarget.value })}
      />
      <Textarea
        label="Description"
        value={value.description}
        maxLength={500}
        autosize
        minRows={2}
        onChange={(e) => onChange({ ...value, description: e.currentTarget.value })}
      />
    </>
  );
}

/** A new meter: key, aggregation and property are final once created; unit and description are not. */
export function CreateMeterModal({
  opened,
  onClose,
}: {
  readonly opened: boolean;
  readonly onClose: () => void;
}) {
  const create = useCreateMeter();
  const [key, setKey] = useState('');
  const [aggregation, setAggregation] = useState<CreateMeterBody['aggregation']>('count');
  const [property, setProperty] = useState('');
  const [text, setText] = useState(NO_TEXT);
  const close = () => {
    create.reset();
    setKey('');
    setAggregation('count');
    setProperty('');
    setText(NO_TEXT);
    onClose();
  };
  const submit = () =>
    create.mutate(
      {
        key: key.trim(),
        aggregation,
        ...(aggregation === 'count' || !property.trim() ? {} : { property: property.trim() }),
        unit: text.unit.trim(),
        description: text.description.trim(),
      },
      {
        onSuccess: (m) => {
          notifySuccess(`Meter ${m.key} saved`);
          close();
        },
      },
    );
  return (
    <Modal opened={opened} onClose={close} title="New meter">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <Stack gap="sm">
          <FailureAlert error={create.isError ? create.error : null} />
          <TextInput
            label="Key"
            description="Lower case letters, digits, _ . and -; what events name. Cannot change later."
            value={key}
            error={fieldError(create.error, 'key')}
            onChange={(e) => setKey(e.currentTarget.value)}
            required
          />
          <Select
            label="Aggregation"
            description="Cannot change later"
            data={AGGREGATIONS}
            value={aggregation}
            allowDeselect={false}
            onChange={(v) => setAggregation(v ?? 'count')}
          />
          {aggregation === 'count' ? null : (
            <TextInput
              label="Property"
              description={
                aggregation === 'unique_count'
                  ? 'Required: the event property whose distinct values are counted. Cannot change later.'
                  : 'Optional: the event property to use instead of the value. Cannot change later.'
              }
              value={property}
              error={fieldError(create.error, 'property')}
              onChange={(e) => setProperty(e.currentTarget.value)}
              required={aggregation === 'unique_count'}
            />
          )}
          <UnitDescriptionFields value={text} onChange={setText} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create meter
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Unit and description of an existing meter (its key, aggregation and property are shown, not editable). */
export function EditMeterModal({
  meter,
  onClose,
}: {
  readonly meter: Meter | null;
  readonly onClose: () => void;
}) {
  const update = useUpdateMeter();
  const [text, setText] = useState(NO_TEXT);
  useEffect(() => {
    setText({ unit: meter?.unit ?? '', description: meter?.description ?? '' });
  }, [meter]);
  const close = () => {
    update.reset();
    onClose();
  };
  return (
    <Modal opened={meter !== null} onClose={close} title={meter ? `Edit meter ${meter.key}` : 'Edit meter'}>
      {meter ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            update.mutate(
              { key: meter.key, body: { unit: text.unit.trim(), description: text.description.trim() } },
              {
                onSuccess: (m) => {
                  notifySuccess(`Meter ${m.key} saved`);
                  close();
                },
              },
            );
          }}
        >
          <Stack gap="sm">
            <FailureAlert error={update.isError ? update.error : null} />
            <Text size="sm">
              Aggregation <strong>{meter.aggregation}</strong>
              {meter.property ? (
                <>
                  {' '}
                  of <strong>{meter.property}</strong>
                </>
              ) : null}
              : fixed at creation, since usage already aggregated depends on it.
            </Text>
            <UnitDescriptionFields value={text} onChange={setText} />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={update.isPending}>
                Save
              </Button>
            </Group>
          </Stack>
        </form>
      ) : null}
    </Modal>
  );
}
