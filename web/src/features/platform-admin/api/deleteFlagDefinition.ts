import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { flagDefinitionsKey } from './listFlagDefinitions';
import { platformAuditKey } from './listPlatformAuditLogs';

/** `DELETE /v1/platform/flags/{key}` (every organization's override of it goes too). */
export function useDeleteFlagDefinition() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (key: string) =>
      unwrap(api.DELETE('/v1/platform/flags/{key}', { params: { path: { key } } })),
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: flagDefinitionsKey }),
        qc.invalidateQueries({ queryKey: platformAuditKey }),
      ]),
  });
}
