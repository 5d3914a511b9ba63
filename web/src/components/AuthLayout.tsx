import type { ReactNode } from 'react';
import { Anchor, Box, Container, Paper, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';

/** The frame of the screens a signed-out person sees: the product name and one card. */
export function AuthLayout({
  title,
  children,
  footer,
}: {
  readonly title: string;
  readonly children: ReactNode;
  readonly footer?: ReactNode;
}) {
  return (
    <Box component="main" className="auth-page">
      <Container size={440} px="md" py="xl">
        <Stack gap="lg">
          <Anchor component={Link} to="/" underline="never" c="inherit" fw={700} size="lg">
            SaaSReady
          </Anchor>
          <Paper withBorder radius="md" p="lg">
            <Stack gap="md">
              <Title order={1} size="h2">
                {title}
              </Title>
              {children}
            </Stack>
          </Paper>
          {footer ? (
            <Text size="sm" ta="center">
              {footer}
            </Text>
          ) : null}
        </Stack>
      </Container>
    </Box>
  );
}
