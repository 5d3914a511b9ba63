import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { newIdempotencyKey } from './exports';
import { accountExportsKey } from './listAccountExports';

/** `POST /v1/account/export`: starts an export of everything about the signed-in user (409 while one runs). */
export function useCreateAccountExport() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/v1/account/export', { params: { header: { 'idempotency-key': newIdempotencyKey() } } }),
      ),
    onSettled: () => qc.invalidateQueries({ queryKey: accountExportsKey }),
  });
}
