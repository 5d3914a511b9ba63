import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { unwrap } from '../../../api/errors';
import { flagDefinitionsKey } from './listFlagDefinitions';
import { platformAuditKey } from './listPlatformAuditLogs';

export type UpdateFlagBody =
  paths['/v1/platform/flags/{key}']['patch']['requestBody']['content']['application/json'];

/**
 * `PATCH /v1/platform/flags/{key}` with the `version` the form was opened at: 409 FLAG_VERSION_CONFLICT
 * when someone changed it since.
 */
export function useUpdateFlagDefinition() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ key, body }: { key: string; body: UpdateFlagBody }) =>
      unwrap(api.PATCH('/v1/platform/flags/{key}', { params: { path: { key } }, body })),
    onSuccess: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: flagDefinitionsKey }),
        qc.invalidateQueries({ queryKey: platformAuditKey }),
      ]),
  });
}
