import { Text } from '@mantine/core';

/** An organization in a platform list: its name, and its slug (marked when it is a personal one). */
export function OrgNameCell({
  org,
}: {
  readonly org: { readonly name: string; readonly slug: string; readonly personal: boolean };
}) {
  return (
    <>
      <Text size="sm" fw={500} className="break-anywhere">
        {org.name}
      </Text>
      <Text size="xs" c="dimmed" className="break-anywhere">
        {org.slug}
        {org.personal ? ' · personal' : ''}
      </Text>
    </>
  );
}
