import { useState } from 'react';
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Group,
  Modal,
  NumberInput,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { describeError } from '../../../api/errors';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { notify, notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { AdminNotFound, AdminOnly, isRefusal } from '../../platform-admin/components/AdminOnly';
import {
  useCreatePlan,
  usePlatformPlans,
  useSetPlanArchived,
  type CreatePlanBody,
} from '../api/platformPlans';

/** The plan catalog: list, create, archive and restore (platform administrators). */
export default function AdminPlansPage() {
  return (
    <AdminOnly>
      <Plans />
    </AdminOnly>
  );
}

const seats = (limit: number | null) => (limit === null ? 'Unlimited' : String(limit));
const auditKept = (days: number | null) => (days === null ? 'Forever' : `${days} days`);

function Plans() {
  const plans = usePlatformPlans();
  const archive = useSetPlanArchived();
  const [creating, setCreating] = useState(false);
  const rows = loadedRows(plans);
  if (isRefusal(plans.error)) return <AdminNotFound />;
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Plans
        </Title>
        <Button onClick={() => setCreating(true)}>New plan</Button>
      </Group>
      <Text size="sm" c="dimmed">
        Public, unarchived plans are offered to organization owners. An archived plan is no longer offered;
        organizations on it keep it. Every change is recorded in the platform audit log.
      </Text>
      <QueryState
        query={plans}
        what="plans"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No plans yet" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={560}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Plan</Table.Th>
                    <Table.Th>Seats</Table.Th>
                    <Table.Th className="hide-narrow">Audit log kept</Table.Th>
                    <Table.Th className="hide-narrow">Entitlements</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((p) => (
                    <Table.Tr key={p.key}>
                      <Table.Td>
                        <Text size="sm">{p.name}</Text>
                        <Text size="xs" c="dimmed" ff="monospace" className="break-anywhere">
                          {p.key}
                        </Text>
                      </Table.Td>
                      <Table.Td>{seats(p.seatLimit)}</Table.Td>
                      <Table.Td className="hide-narrow">{auditKept(p.auditRetentionDays)}</Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="xs" className="break-anywhere">
                          {p.entitlements.join(', ') || '—'}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4}>
                          {p.archivedAt ? (
                            <Badge variant="outline" color="dark">
                              Archived
                            </Badge>
                          ) : null}
                          <Badge variant="light" color={p.public ? 'blue' : 'gray'}>
                            {p.public ? 'Public' : 'Hidden'}
                          </Badge>
                        </Group>
                      </Table.Td>
                      <Table.Td>
                        <Button
                          size="compact-sm"
                          variant="subtle"
                          aria-label={`${p.archivedAt ? 'Restore' : 'Archive'} ${p.name}`}
                          onClick={() =>
                            archive.mutate(
                              { key: p.key, archived: !p.archivedAt },
                              {
                                onSuccess: () =>
                                  notifySuccess(`${p.name} ${p.archivedAt ? 'restored' : 'archived'}`),
                                onError: (err) =>
                                  notify({
                                    title: 'That did not work',
                                    message: describeError(err),
                                    color: 'red',
                                  }),
                              },
                            )
                          }
                        >
                          {p.archivedAt ? 'Restore' : 'Archive'}
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={plans} />
          </>
        )}
      </QueryState>
      <CreatePlanModal opened={creating} onClose={() => setCreating(false)} />
    </Stack>
  );
}

const DEFAULT_PRICE = JSON.stringify(
  { currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 0 }] },
  null,
  2,
);

function CreatePlanModal({ opened, onClose }: { readonly opened: boolean; readonly onClose: () => void }) {
  const create = useCreatePlan();
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [seatLimit, setSeatLimit] = useState<number | string>('');
  const [auditDays, setAuditDays] = useState<number | string>('');
  const [entitlements, setEntitlements] = useState('');
  const [price, setPrice] = useState(DEFAULT_PRICE);
  const [isPublic, setPublic] = useState(true);
  const [priceError, setPriceError] = useState<string | null>(null);
  const close = () => {
    create.reset();
    onClose();
  };
  const submit = () => {
    let parsed: CreatePlanBody['price'];
    try {
      parsed = JSON.parse(price) as CreatePlanBody['price'];
    } catch {
      setPriceError('The price is not valid JSON');
      return;
    }
    setPriceError(null);
    create.mutate(
      {
        key: key.trim(),
        name: name.trim(),
        seatLimit: seatLimit === '' ? null : Number(seatLimit),
        auditRetentionDays: auditDays === '' ? null : Number(auditDays),
        entitlements: entitlements
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean),
        price: parsed,
        public: isPublic,
      },
      {
        onSuccess: (plan) => {
          notifySuccess(`Plan ${plan.name} saved`);
          close();
        },
      },
    );
  };
  return (
    <Modal opened={opened} onClose={close} title="New plan">
      <Stack gap="sm">
        {create.isError ? (
          <Alert color="red" role="alert" title="That did not work">
            {describeError(create.error)}
          </Alert>
        ) : null}
        <TextInput
          label="Key"
          description="Lower case, digits, - and _"
          value={key}
          onChange={(e) => setKey(e.currentTarget.value)}
          required
        />
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required />
        <NumberInput
          label="Seat limit"
          description="Empty for unlimited"
          min={1}
          value={seatLimit}
          onChange={setSeatLimit}
        />
        <NumberInput
          label="Audit log retention (days)"
          description="Older audit events are purged daily, cut at a signed checkpoint. Empty to keep them forever"
          min={1}
          max={36500}
          value={auditDays}
          onChange={setAuditDays}
        />
        <TextInput
          label="Entitlements"
          description="Flag keys the plan turns on, separated by commas"
          value={entitlements}
          onChange={(e) => setEntitlements(e.currentTarget.value)}
        />
        <Textarea
          label="Price (JSON)"
          description="Currency, interval and components, amounts in minor units"
          autosize
          minRows={4}
          value={price}
          error={priceError}
          onChange={(e) => setPrice(e.currentTarget.value)}
        />
        <Checkbox
          label="Offered to organization owners"
          checked={isPublic}
          onChange={(e) => setPublic(e.currentTarget.checked)}
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={close}>
            Cancel
          </Button>
          <Button loading={create.isPending} onClick={submit}>
            Create plan
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
