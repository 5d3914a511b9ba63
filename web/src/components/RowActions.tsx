import { Button, Group } from '@mantine/core';

/**
 * A table row's Edit and Delete buttons, labelled with what they act on ("Edit Alpha", "Delete Alpha")
 * for screen readers. A button whose handler is omitted is not drawn (the role cannot do it).
 */
export function RowActions({
  name,
  onEdit,
  onDelete,
}: {
  readonly name: string;
  readonly onEdit?: () => void;
  readonly onDelete?: () => void;
}) {
  return (
    <Group gap="xs" justify="flex-end" wrap="nowrap">
      {onEdit ? (
        <Button size="compact-sm" variant="subtle" aria-label={`Edit ${name}`} onClick={onEdit}>
          Edit
        </Button>
      ) : null}
      {onDelete ? (
        <Button
          size="compact-sm"
          variant="subtle"
          color="red"
          aria-label={`Delete ${name}`}
          onClick={onDelete}
        >
          Delete
        </Button>
      ) : null}
    </Group>
  );
}
