import { Badge, Text } from '@mantine/core';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';

type Placement = PlatformOrganization['placement'];

/** What each placement kind is called in the console. */
export const PLACEMENT_LABEL: Record<Placement['kind'], string> = {
  pooled: 'Pooled',
  schema: 'Own schema',
  database: 'Own database',
};

/** An organization's placement as the server records it: the kind, its database key for a database
 *  placement, and whether a move is running. */
export function PlacementBadge({ placement }: { readonly placement: Placement }) {
  return (
    <>
      <Badge variant="light" color={placement.kind === 'pooled' ? 'gray' : 'blue'}>
        {PLACEMENT_LABEL[placement.kind]}
      </Badge>
      {placement.state === 'moving' ? (
        <Text size="xs" c="dimmed">
          moving
        </Text>
      ) : null}
      {placement.databaseKey ? (
        <Text size="xs" c="dimmed" className="break-anywhere">
          {placement.databaseKey}
        </Text>
      ) : null}
    </>
  );
}
