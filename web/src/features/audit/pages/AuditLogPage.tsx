import '../audit.css';
import { useMemo, useState } from 'react';
import { Alert, Box, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { useSearchParams } from 'react-router';
import type { Schemas } from '../../../api/client';
import { isApiError } from '../../../api/errors';
import { fieldErrorsOf } from '../../../components/FormError';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { useAuditLogs, type AuditFilters } from '../api/listAuditLogs';
import { exportHref } from '../api/exportAuditLogs';
import { AuditFilterForm } from '../components/AuditFilterForm';
import { AuditTable } from '../components/AuditTable';
import { ChainStatus } from '../components/ChainStatus';
import { Checkpoints } from '../components/Checkpoints';
import { EventDrawer } from '../components/EventDrawer';
import { FILTER_FIELDS, filtersFromParams, paramsOf } from '../components/filters';
import { useMemberEmails } from '../components/use-member-emails';

type AuditEvent = Schemas['AuditEvent'];

/**
 * The organization's audit log (`audit:read`): chain verification, every filter the API has (kept in the
 * URL, so a filtered view can be shared), cursor paging, JSONL/CSV export of the filtered view, each
 * entry's details, and the signed checkpoints.
 */
export default function AuditLogPage() {
  const { can } = useOrg();
  if (can('audit:read')) return <AuditLog />;
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Audit log
      </Title>
      <Alert color="gray" title="Your role cannot read the audit log" role="alert">
        <Text size="sm">
          Reading it needs the audit:read permission. Ask an owner or admin of this organization.
        </Text>
      </Alert>
    </Stack>
  );
}

/** The field a refused filter is about: a validation error's field, or the name an INVALID_AUDIT_FILTER starts with. */
function filterErrorsOf(error: unknown): Record<string, string> {
  const errors = fieldErrorsOf(error, {});
  if (isApiError(error, 400, 'INVALID_AUDIT_FILTER')) {
    const field = FILTER_FIELDS.find((f) => error.message.startsWith(`${f} `));
    if (field) errors[field] ??= error.message;
  }
  return errors;
}

function AuditLog() {
  const { org, can } = useOrg();
  const [params, setParams] = useSearchParams();
  const search = paramsOf(filtersFromParams(params)).toString();
  const filters = useMemo<AuditFilters>(() => filtersFromParams(new URLSearchParams(search)), [search]);
  const filtered = search !== '';
  const events = useAuditLogs(org.slug, filters);
  const emails = useMemberEmails(org.slug, can('members:read'));
  const [open, setOpen] = useState<AuditEvent | null>(null);
  // The form is open on wide screens and whenever filters apply; on a phone it starts folded.
  const [showFilters, setShowFilters] = useState(
    () => filtered || window.matchMedia('(min-width: 600px)').matches,
  );
  const rows = loadedRows(events);
  const errors = filterErrorsOf(events.error);
  const badFilters = Object.keys(errors).length > 0;
  const apply = (f: Partial<Record<(typeof FILTER_FIELDS)[number], string>>) => setParams(paramsOf(f));

  return (
    <Stack gap="md">
      <Group justify="space-between" gap="sm">
        <Title order={1} size="h2">
          Audit log
        </Title>
        <Group gap="xs" role="group" aria-label="Export the filtered log">
          <Button component="a" variant="default" href={exportHref(org.slug, filters, 'jsonl')} download>
            Export JSONL
          </Button>
          <Button component="a" variant="default" href={exportHref(org.slug, filters, 'csv')} download>
            Export CSV
          </Button>
        </Group>
      </Group>
      <Text size="sm" c="dimmed">
        Every change in this organization, who made it and from where, in a tamper-evident hash chain. Exports
        hold every entry matching the filters, oldest first.
      </Text>
      <ChainStatus org={org.slug} />
      <Paper withBorder p="sm" radius="md">
        <Group justify="space-between" gap="sm">
          <Text component="h2" fw={600} size="md">
            Filters{filtered ? ` (${Object.keys(filters).length} applied)` : ''}
          </Text>
          <Button
            size="compact-sm"
            variant="subtle"
            aria-expanded={showFilters}
            aria-controls="audit-filters"
            onClick={() => setShowFilters((v) => !v)}
          >
            {showFilters ? 'Hide filters' : 'Show filters'}
          </Button>
        </Group>
        {showFilters || badFilters ? (
          <Box id="audit-filters" mt="sm">
            <AuditFilterForm key={search} filters={filters} errors={errors} onApply={apply} />
          </Box>
        ) : null}
      </Paper>
      {badFilters ? (
        <Alert color="red" title="These filters are not valid" role="alert">
          <Text size="sm">The server refused them: see the message next to each field above.</Text>
        </Alert>
      ) : (
        <QueryState
          query={events}
          what="audit entries"
          isEmpty={() => rows.length === 0}
          empty={
            <EmptyState title={filtered ? 'No entries match these filters' : 'No entries yet'}>
              {filtered ? (
                <Button variant="light" onClick={() => apply({})}>
                  Clear filters
                </Button>
              ) : null}
            </EmptyState>
          }
        >
          {() => (
            <>
              <AuditTable events={rows} emails={emails} onOpen={setOpen} />
              <LoadMore query={events} />
            </>
          )}
        </QueryState>
      )}
      <Checkpoints org={org.slug} canCreate={can('audit:read')} />
      <EventDrawer
        event={open}
        emails={emails}
        onClose={() => setOpen(null)}
        onFilter={(f) => {
          setOpen(null);
          apply(f);
        }}
      />
    </Stack>
  );
}
