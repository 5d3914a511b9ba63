import { Suspense } from 'react';
import { Alert, Anchor, Box, Button, Container, Group, Menu, Text, UnstyledButton } from '@mantine/core';
import { Link, Outlet, useMatch } from 'react-router';
import { Loading } from '../components/QueryState';
import { useMe } from '../features/auth/api/me';
import { useSignOut } from '../features/auth/api/logout';
import { ResendLink } from '../features/auth/components/ResendLink';
import { OrgSwitcher } from '../features/organizations/components/OrgSwitcher';
import { AdminNav, OrgNav } from './OrgNav';

/** The signed-in frame: header with the organization switcher and the account menu, then the page. */
export function Shell() {
  const me = useMe();
  const orgMatch = useMatch('/o/:org/*');
  const org = orgMatch?.params.org;
  const inAdmin = useMatch('/admin/*') !== null;
  const { signOut } = useSignOut();
  const user = me.data?.user;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Box component="header" className="app-header">
        <Container size="lg" px="md">
          <Group justify="space-between" gap="sm" py="xs" wrap="wrap">
            <Group gap="md" wrap="wrap">
              <Anchor component={Link} to="/" fw={700} c="inherit" underline="never">
                SaaSReady
              </Anchor>
              <OrgSwitcher current={org} />
            </Group>
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <UnstyledButton className="account-button">
                  <Text size="sm" truncate maw={200}>
                    {user?.name ?? user?.email ?? 'Account'}
                  </Text>
                </UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>{user?.email}</Menu.Label>
                <Menu.Item component={Link} to="/account">
                  Account
                </Menu.Item>
                {user?.isPlatformAdmin ? (
                  <Menu.Item component={Link} to="/admin/organizations">
                    Platform administration
                  </Menu.Item>
                ) : null}
                <Menu.Item onClick={() => void signOut()}>Sign out</Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
          {org ? <OrgNav slug={org} /> : null}
          {inAdmin && user?.isPlatformAdmin ? <AdminNav /> : null}
        </Container>
      </Box>
      <Container size="lg" px="md" py="lg" component="main" id="main" tabIndex={-1}>
        {user && !user.emailVerified ? (
          <Alert color="yellow" mb="md" title="Verify your email address">
            <Text size="sm" mb="xs">
              Open the link we mailed to {user.email}. Until then, invitations, API keys and access tokens are
              unavailable.
            </Text>
            <ResendLink />
          </Alert>
        ) : null}
        <Suspense fallback={<Loading what="the page" />}>
          <Outlet />
        </Suspense>
      </Container>
    </>
  );
}

/** A console path that does not exist. */
export function NotFoundPage() {
  return (
    <Container size="sm" py="xl" component="main">
      <Text fw={700} size="lg" component="h1">
        Page not found
      </Text>
      <Text size="sm" mb="md">
        There is nothing at this address.
      </Text>
      <Button component={Link} to="/">
        Go to the console
      </Button>
    </Container>
  );
}
