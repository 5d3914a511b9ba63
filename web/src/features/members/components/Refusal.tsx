import { Alert, Text } from '@mantine/core';
import { describeError, isApiError } from '../../../api/errors';

/** Why the server refuses a membership or role change, in a sentence a member can act on. */
const RULES: Readonly<Record<string, string>> = {
  MEMBERSHIP_LAST_OWNER:
    'An organization always keeps at least one active owner. Make another member owner first (Transfer ownership), then try again.',
  MEMBERSHIP_OUTRANKED:
    'Nobody can change or remove a member whose role holds permissions they do not have themselves.',
  MEMBERSHIP_ESCALATION:
    'Nobody can grant permissions beyond their own: choose a role within your permissions, or ask an owner.',
  MEMBERSHIP_NOT_ACTIVE:
    'Ownership can only go to an active member: this person has not accepted their invitation yet.',
  MEMBERSHIP_FORBIDDEN: 'Only an owner of the organization can do this.',
  MEMBERSHIP_TRANSFER_TO_SELF: 'Choose another member: you already own the organization.',
  ROLE_IN_USE:
    'A custom role can only be deleted when nobody holds it (invited members included): give its holders another role first.',
  ROLE_UNKNOWN: 'That role no longer exists: reload the page to see the current roles.',
  ROLE_NOT_FOUND: 'That role no longer exists: reload the page to see the current roles.',
  MEMBER_NOT_FOUND: 'This person is no longer a member: reload the page to see the current members.',
  FORBIDDEN: 'Your role does not allow this.',
};

/** The permissions a refusal names as missing (`details.missing`), if any. */
function missing(err: unknown): string[] {
  if (!isApiError(err)) return [];
  const m = err.details.missing;
  return Array.isArray(m) ? m.filter((p): p is string => typeof p === 'string') : [];
}

/** A refused change: the server's message, and the rule behind it. */
export function Refusal({ error }: { readonly error: unknown }) {
  if (!error) return null;
  const rule = isApiError(error) ? RULES[error.code] : undefined;
  const lacking = missing(error);
  return (
    <Alert color="red" role="alert" title="That did not work">
      <Text size="sm">{capitalize(describeError(error))}.</Text>
      {rule ? (
        <Text size="sm" mt={4}>
          {rule}
        </Text>
      ) : null}
      {lacking.length > 0 ? (
        <Text size="sm" mt={4}>
          You do not hold: {lacking.join(', ')}.
        </Text>
      ) : null}
    </Alert>
  );
}

const capitalize = (s: string) => (s ? s.charAt(0).toUpperCase() + s.slice(1).replace(/\.$/, '') : s);
