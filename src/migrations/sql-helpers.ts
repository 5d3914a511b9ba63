/**
 * PL/pgSQL snippets shared by migrations from 0020 on (not a migration itself: src/migrations/index.ts lists
 * the migrations by name). Migrations 0001-0019 keep their own copies since a landed migration is frozen;
 * changing a snippet here changes what every migration importing it runs, so once a migration using it has
 * landed, a snippet here must not change either (add a new one instead).
 */

/**
 * Refuses when the caller is inside a tenant scope (the function's question is not a tenant's). Placed
 * right after `begin` in a function body; `what` names the function in the error.
 */
export const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;
