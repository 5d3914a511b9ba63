import { Badge, Button, Group, Text } from '@mantine/core';
import { Link } from 'react-router';
import { AccountSection } from './AccountSection';

/** Whether two-factor authentication is on, and the way to the screen that sets it up or manages it. */
export function TwoFactorSummary({ enabled }: { readonly enabled: boolean }) {
  return (
    <AccountSection
      id="two-factor"
      title="Two-factor authentication"
      description="A code from an authenticator app at every sign-in, on top of your password."
    >
      <Group gap="sm" justify="space-between" wrap="wrap">
        <Group gap="xs">
          <Text size="sm">Status:</Text>
          {enabled ? (
            <Badge color="green" variant="light">
              On
            </Badge>
          ) : (
            <Badge color="gray" variant="light">
              Off
            </Badge>
          )}
        </Group>
        <Button component={Link} to="/account/two-factor" variant={enabled ? 'default' : 'filled'}>
          {enabled ? 'Manage two-factor authentication' : 'Set up two-factor authentication'}
        </Button>
      </Group>
    </AccountSection>
  );
}
