import type { ReactNode } from 'react';
import { Alert, Button, Center, Loader, Stack, Text } from '@mantine/core';
import type { UseQueryResult } from '@tanstack/react-query';
import { describeError } from '../api/errors';
import { QuotaExceededNote } from './QuotaExceededNote';

/** What {@link QueryState} reads of a query (a paged one too). */
export type QueryLike<T> = Pick<UseQueryResult<T>, 'data' | 'error' | 'isPending' | 'isError' | 'refetch'>;

interface Props<T> {
  readonly query: QueryLike<T>;
  /** What is loading, for screen readers ("projects"). */
  readonly what: string;
  /** True when the data has nothing to show. */
  readonly isEmpty?: (data: T) => boolean;
  /** Drawn when {@link isEmpty}. */
  readonly empty?: ReactNode;
  readonly children: (data: T) => ReactNode;
}

/** The loading, error and empty states every screen draws, around what it draws with data. */
export function QueryState<T>({ query, what, isEmpty, empty, children }: Props<T>) {
  if (query.isPending) return <Loading what={what} />;
  if (query.isError) {
    return (
      <Alert color="red" title={`Could not load ${what}`} role="alert">
        <Stack gap="xs" align="flex-start">
          <Text size="sm">{describeError(query.error)}</Text>
          <QuotaExceededNote error={query.error} />
          <Button size="xs" variant="light" color="red" onClick={() => void query.refetch()}>
            Retry
          </Button>
        </Stack>
      </Alert>
    );
  }
  const data = query.data as T;
  if (isEmpty?.(data)) return <>{empty}</>;
  return <>{children(data)}</>;
}

export function Loading({ what }: { readonly what: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Loader size="sm" aria-hidden />
      <Text size="sm" c="dimmed" ml="sm">
        Loading {what}…
      </Text>
    </Center>
  );
}

/** An empty state: a sentence and, optionally, the action that fills it. */
export function EmptyState({ title, children }: { readonly title: string; readonly children?: ReactNode }) {
  return (
    <Stack align="center" gap="xs" py="xl">
      <Text fw={600}>{title}</Text>
      {children}
    </Stack>
  );
}
