import type { ReactNode } from 'react';
import { Button, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';
import { isApiError } from '../../../api/errors';
import { Loading } from '../../../components/QueryState';
import { useMe } from '../../auth/api/me';

/**
 * The platform screens exist only for platform administrators: anyone else reads "Page not found", as
 * for any other unknown address (the server refuses their calls all the same).
 */
export function AdminOnly({ children }: { readonly children: ReactNode }) {
  const me = useMe();
  if (me.isPending) return <Loading what="your account" />;
  if (!me.data?.user.isPlatformAdmin) return <AdminNotFound />;
  return <>{children}</>;
}

/** True for the answers a platform route gives someone who is not (or no longer) an administrator. */
export const isRefusal = (err: unknown) => isApiError(err, 403) || isApiError(err, 404);

export function AdminNotFound() {
  return (
    <Stack align="flex-start" gap="sm">
      <Title order={1} size="h2">
        Page not found
      </Title>
      <Text size="sm">There is nothing at this address.</Text>
      <Button component={Link} to="/">
        Go to the console
      </Button>
    </Stack>
  );
}
