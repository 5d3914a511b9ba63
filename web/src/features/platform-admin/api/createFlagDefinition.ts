import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { unwrap } from '../../../api/errors';
import { flagDefinitionsKey } from './listFlagDefinitions';
import { platformAuditKey } from './listPlatformAuditLogs';

export type CreateFlagBody =
  paths['/v1/platform/flags']['post']['requestBody']['content']['application/json'];

/** `POST /v1/platform/flags`. */
export function useCreateFlagDefinition() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateFlagBody) => unwrap(api.POST('/v1/platform/flags', { body })),
    onSuccess: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: flagDefinitionsKey }),
        qc.invalidateQueries({ queryKey: platformAuditKey }),
      ]),
  });
}
