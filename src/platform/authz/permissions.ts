/**
 * Every permission in SaaSReady, as one `as const` map shared by the server and the console.
 * Keys are resources; values are the actions on them. A permission is written `resource:action`.
 */
export const statements = {
  org: ['read', 'update', 'delete', 'export'],
  members: ['read', 'invite', 'remove', 'update_role'],
  projects: ['read', 'create', 'update', 'delete'],
  api_keys: ['manage'],
  audit: ['read'],
  flags: ['manage'],
  billing: ['read', 'manage'],
  usage: ['read', 'write'],
  webhooks: ['manage'],
  // SSO connections, verified domains and the SCIM directory token (issue 15).
  sso: ['manage'],
} as const;

type Statements = typeof statements;
/** A permission string such as `projects:read`. */
export type Permission = {
  [R in keyof Statements]: `${R & string}:${Statements[R][number]}`;
}[keyof Statements];

/** Every permission, flattened. */
export const allPermissions: readonly Permission[] = Object.entries(statements).flatMap(
  ([resource, actions]) => (actions as readonly string[]).map((a) => `${resource}:${a}` as Permission),
);
