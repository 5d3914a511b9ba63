import { Title } from '@mantine/core';

/** Placeholder until this screen is built (replaced by its owner). */
export default function AccountPage() {
  return (
    <Title order={1} size="h2">
      Account
    </Title>
  );
}
