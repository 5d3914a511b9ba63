import { Title } from '@mantine/core';

/** Placeholder until this screen is built (replaced by its owner). */
export default function AdminAuditLogPage() {
  return (
    <Title order={1} size="h2">
      Platform audit log
    </Title>
  );
}
