import { randomBytes } from 'node:crypto';

/** An organization slug: 1-63 lowercase letters, digits or inner dashes (the database checks the same). */
export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Longest base kept by {@link slugify}, so that `<base>-<6 hex>` still fits in 63 characters. */
const BASE_MAX = 56;

/**
 * Turns free text (a name, an email's local part) into a valid slug base: lowercase, accents dropped,
 * every run of other characters one dash, no leading or trailing dash, at most 56 characters. Text with
 * no usable character gives `org`.
 */
export function slugify(text: string): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
  const slug = ascii
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, BASE_MAX)
    .replace(/^-+|-+$/g, '');
  return slug.length > 0 ? slug : 'org';
}

/** `<base>-<6 random hex>`: the retry form of a taken slug. */
export function suffixedSlug(base: string): string {
  return `${base.slice(0, BASE_MAX).replace(/-+$/, '')}-${randomBytes(3).toString('hex')}`;
}
