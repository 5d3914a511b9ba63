/** An organization slug: 1-63 lowercase letters, digits or inner dashes (the database checks the same). */
export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
