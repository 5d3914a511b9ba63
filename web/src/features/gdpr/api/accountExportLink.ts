import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `GET /v1/account/exports/{id}`: a ready export with a fresh download link signed for this user. */
export function useAccountExportLink() {
  return useMutation({
    mutationFn: async (id: string) =>
      (await unwrap(api.GET('/v1/account/exports/{id}', { params: { path: { id } } }))).download,
  });
}
