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

/**
 * Refuses unless the caller is in the platform scope of a platform administrator's live session (the RAW
 * token in `app.platform_session`, no tenant set): the check migration 0012 wrote into each platform
 * function. Needs `v_token text; v_actor uuid;` declared; leaves the administrator's id in `v_actor`.
 */
export const PLATFORM_SCOPE = (what: string) => `
      v_token := nullif(current_setting('app.platform_session', true), '');
      if v_token is not null and public.app_current_tenant() is null then
        select s.user_id into v_actor from public.sessions s join public.users u on u.id = s.user_id
          where s.token_hash = sha256(convert_to(v_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()
            and u.is_platform_admin and (u.totp_enabled_at is null or s.two_factor_verified);
      end if;
      if public.app_current_tenant() is not null or v_actor is null then
        raise exception '% needs the platform scope of a platform administrator''s live session', '${what}'
          using errcode = 'insufficient_privilege';
      end if;`;
