import { Badge, Button, Group, Select, Text } from '@mantine/core';
import { Link, useNavigate } from 'react-router';
import { useMyOrganizations } from '../api/listMyOrganizations';

/**
 * The organization switcher, always in the header: searchable, Personal Organization marked, and a way
 * to create one. Choosing opens the organization (`/o/:slug`), which makes it the session's current one
 * and the one the next sign-in opens.
 */
export function OrgSwitcher({ current }: { readonly current: string | undefined }) {
  const orgs = useMyOrganizations();
  const navigate = useNavigate();
  const data = (orgs.data ?? []).map((o) => ({
    value: o.slug,
    label: o.personal ? `${o.name} (Personal)` : o.name,
  }));
  const personal = new Set((orgs.data ?? []).filter((o) => o.personal).map((o) => o.slug));
  return (
    <Group gap="xs" wrap="wrap" className="org-switcher">
      <Select
        aria-label="Organization"
        placeholder={
          orgs.isPending ? 'Loading organizations…' : orgs.isError ? 'Could not load' : 'Organization'
        }
        data={data}
        value={current ?? null}
        searchable
        nothingFoundMessage="No organization matches"
        allowDeselect={false}
        checkIconPosition="right"
        className="org-select"
        renderOption={({ option }) => (
          <Group gap="xs" wrap="nowrap">
            <Text size="sm" truncate>
              {option.label.replace(/ \(Personal\)$/, '')}
            </Text>
            {personal.has(option.value) ? (
              <Badge size="xs" variant="light">
                Personal
              </Badge>
            ) : null}
          </Group>
        )}
        onChange={(slug) => {
          if (slug && slug !== current) void navigate(`/o/${slug}/projects`);
        }}
      />
      <Button component={Link} to="/organizations/new" variant="subtle" size="compact-sm">
        New organization
      </Button>
    </Group>
  );
}
