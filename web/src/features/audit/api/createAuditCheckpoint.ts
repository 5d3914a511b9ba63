import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { checkpointsKey } from './listAuditCheckpoints';
import { verifyKey } from './verifyAuditLog';

/**
 * `POST /v1/orgs/{org}/audit-logs/checkpoints`: signs the chain head now. `created` is false when the
 * head has not moved since the latest checkpoint (the server answers 200 with that one).
 */
export function useCreateAuditCheckpoint(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      let status = 0;
      const checkpoint = await unwrap(
        api.POST('/v1/orgs/{org}/audit-logs/checkpoints', { params: { path: { org } } }).then((r) => {
          status = r.response.status;
          return r;
        }),
      );
      return { checkpoint, created: status === 201 };
    },
    onSuccess: async () => {
      await Promise.all([
        qc.invalidateQueries({ queryKey: checkpointsKey(org) }),
        qc.invalidateQueries({ queryKey: verifyKey(org) }),
      ]);
    },
  });
}
