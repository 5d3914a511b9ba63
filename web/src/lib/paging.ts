/** Every row loaded so far of a cursor-paged list (pages of `{ data, nextCursor }`), in order. */
export function loadedRows<T>(query: {
  readonly data?: { readonly pages: readonly { readonly data: readonly T[] }[] };
}): T[] {
  return query.data?.pages.flatMap((p) => p.data) ?? [];
}
