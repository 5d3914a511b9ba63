import { Paper, Stack, Text, Title } from '@mantine/core';
import { useOrg } from '../../organizations/components/org-context';
import { useCreateOrganizationExport } from '../api/createOrganizationExport';
import { useOrganizationExports } from '../api/listOrganizationExports';
import { useOrganizationExportLink } from '../api/organizationExportLink';
import { loadedRows } from '../../../lib/paging';
import { inProgress } from '../api/exports';
import { ExportList } from './ExportList';
import { StartExport } from './StartExport';

/** "Export organization data" in the settings (`org:export`, owners): start, progress, download. */
export function OrganizationExportSection() {
  const { org, can } = useOrg();
  if (!can('org:export')) return null;
  return <Section org={org.slug} name={org.name} />;
}

function Section({ org, name }: { readonly org: string; readonly name: string }) {
  const exports = useOrganizationExports(org);
  const start = useCreateOrganizationExport(org);
  const link = useOrganizationExportLink(org);
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-export">
      <Stack gap="sm">
        <Title order={2} size="h4" id="org-export">
          Export organization data
        </Title>
        <Text size="sm">
          A zip of every row of {name} in every table (JSON Lines per table, with a manifest of counts and
          checksums). Credentials and their hashes are left out; other values sealed with the organization’s
          key stay sealed. Download links work for a few minutes and only for you; archives are kept for a
          week.
        </Text>
        <StartExport
          mutation={start}
          running={loadedRows(exports).some(inProgress)}
          label="Export organization data"
        />
        <ExportList query={exports} link={link} what="the organization’s exports" />
      </Stack>
    </Paper>
  );
}
