import { Title } from '@mantine/core';

/** Placeholder until this screen is built (replaced by its owner). */
export default function AdminOrganizationsPage() {
  return (
    <Title order={1} size="h2">
      Organizations
    </Title>
  );
}
