import { Alert, Button, Skeleton, Stack, Text, TextInput } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { useOrganization } from '../../organizations/api/getOrganization';
import { useRegions } from '../../organizations/api/listRegions';
import { useOrg } from '../../organizations/components/org-context';

const DESCRIPTION =
  'Where all of the organization’s data is stored. It was chosen at creation; only a platform administrator can move the organization elsewhere.';

/**
 * The organization's region (data residency), read-only: its name, or "Main database" for one created
 * without a region (or moved out of its region's tenant database by a platform administrator). Only on a server with regions (`GET /v1/regions`) or for an organization that has one;
 * nothing otherwise.
 */
export function RegionField() {
  const { org } = useOrg();
  const organization = useOrganization(org.slug);
  const regions = useRegions();
  const region = organization.data?.region ?? null;
  // The organization's own region needs no list; the gate of /o/:org draws an organization it cannot load.
  if (region !== null) return <RegionInput value={region} />;
  if (!organization.data) return null;
  if (regions.isPending) {
    return <Skeleton height={58} role="status" aria-label="Loading the region" />;
  }
  if (regions.isError) {
    return (
      <Alert color="red" title="Could not load the regions" role="alert">
        <Stack gap="xs" align="flex-start">
          <Text size="sm">{describeError(regions.error)}</Text>
          <Button size="xs" variant="light" color="red" onClick={() => void regions.refetch()}>
            Retry
          </Button>
        </Stack>
      </Alert>
    );
  }
  return regions.data.data.length > 0 ? <RegionInput value="Main database" /> : null;
}

function RegionInput({ value }: { readonly value: string }) {
  return <TextInput label="Region" value={value} readOnly description={DESCRIPTION} />;
}
