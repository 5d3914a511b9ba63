import { Type, type TSchema } from '@fastify/type-provider-typebox';

/** The error body every route documents. */
export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

/**
 * The error answers every authenticated tenant route may give: invalid input (400), no or a bad credential
 * (401), a missing permission (403), not found (404), throttled (429). Routes spread it into `response`
 * and add their own (409, 422, …).
 */
export const TenantRouteErrors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};

/** The query string of every cursor-paginated list. */
export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

/** The body of one page of `item`s. */
export function PageOf<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
}
