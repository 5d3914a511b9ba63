import type { ReactNode } from 'react';
import { Button } from '@mantine/core';
import type { UseInfiniteQueryResult } from '@tanstack/react-query';

/** The button under a cursor-paged list that fetches its next page; nothing when there is none. */
export function LoadMore({
  query,
  children = 'Load more',
}: {
  readonly query: Pick<UseInfiniteQueryResult, 'hasNextPage' | 'isFetchingNextPage' | 'fetchNextPage'>;
  /** The button's label. */
  readonly children?: ReactNode;
}) {
  if (!query.hasNextPage) return null;
  return (
    <Button
      variant="default"
      loading={query.isFetchingNextPage}
      onClick={() => void query.fetchNextPage()}
      style={{ alignSelf: 'center' }}
    >
      {children}
    </Button>
  );
}
