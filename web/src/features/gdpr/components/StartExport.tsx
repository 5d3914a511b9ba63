import { Alert, Button, Group, Text } from '@mantine/core';
import type { UseMutationResult } from '@tanstack/react-query';
import { describeError, isApiError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';

/**
 * The start button and what the server answered: a 409 while an export runs is explained (and no longer
 * shown once none is running), any other refusal shown as the server gave it.
 */
export function StartExport({
  mutation,
  label,
  running,
}: {
  readonly mutation: UseMutationResult<unknown, Error, void>;
  readonly label: string;
  /** Whether the list shows an export queued or running. */
  readonly running: boolean;
}) {
  return (
    <>
      <Group>
        <Button
          onClick={() => mutation.mutate(undefined, { onSuccess: () => notifySuccess('Export started') })}
          loading={mutation.isPending}
        >
          {label}
        </Button>
      </Group>
      {mutation.error ? (
        isApiError(mutation.error, 409, 'EXPORT_ALREADY_RUNNING') ? (
          running ? (
            <Text size="sm" role="status">
              An export is already being built: it is listed below, and you can download it once it is ready.
            </Text>
          ) : null
        ) : (
          <Alert color="red" role="alert" title="The export did not start">
            {describeError(mutation.error)}
          </Alert>
        )
      ) : null}
    </>
  );
}
