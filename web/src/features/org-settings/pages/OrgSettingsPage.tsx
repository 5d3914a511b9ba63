import { Stack, Title } from '@mantine/core';
import { useOrg } from '../../organizations/components/org-context';
import { DangerZone } from '../components/DangerZone';
import { DeletionStatus } from '../components/DeletionStatus';
import { GeneralSection } from '../components/GeneralSection';
import { OrganizationKeySection } from '../components/OrganizationKeySection';
import { TwoFactorSection } from '../components/TwoFactorSection';
import { OrganizationExportSection } from '../../gdpr/components/OrganizationExportSection';

/** The organization's settings: deletion status, name, slug and region, the two-factor requirement, the encryption key, exporting its data, deletion. */
export default function OrgSettingsPage() {
  const { org } = useOrg();
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Settings
      </Title>
      <DeletionStatus />
      {/* Keyed by the organization: a new slug or another organization starts from its own values. */}
      <GeneralSection key={`${org.id}:${org.slug}:${org.name}`} />
      <TwoFactorSection />
      <OrganizationKeySection />
      <OrganizationExportSection />
      <DangerZone />
    </Stack>
  );
}
