import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { isApiError, unwrap } from '../../../api/errors';
import { useAfterInvitationChange } from './invalidate';
import { limitMessage } from './limit';

/** What happened to one address of a batch. */
export interface InviteOutcome {
  readonly email: string;
  readonly kind: 'sent' | 'member' | 'pending' | 'invalid' | 'limit' | 'refused';
  readonly message: string;
}

function outcomeOf(email: string, err: unknown): InviteOutcome {
  if (!isApiError(err)) return { email, kind: 'refused', message: 'The server could not be reached.' };
  switch (err.code) {
    case 'INVITATION_MEMBER_EXISTS':
      return { email, kind: 'member', message: 'Already a member of this organization.' };
    case 'INVITATION_ALREADY_PENDING':
      return { email, kind: 'pending', message: 'Already invited: resend or revoke it in the list below.' };
    case 'VALIDATION_FAILED':
      return { email, kind: 'invalid', message: 'Not a valid email address.' };
    case 'INVITATION_RATE_LIMITED':
      return { email, kind: 'limit', message: limitMessage(err) };
    case 'EMAIL_NOT_VERIFIED':
      return {
        email,
        kind: 'refused',
        message: 'Verify your own email address first (open the link we mailed you), then invite.',
      };
    default:
      return { email, kind: 'refused', message: err.message };
  }
}

/** Addresses as typed or pasted: trimmed, deduplicated (case-insensitively), empties dropped. */
export function distinctAddresses(list: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of list) {
    const email = raw.trim();
    if (!email || seen.has(email.toLowerCase())) continue;
    seen.add(email.toLowerCase());
    out.push(email);
  }
  return out;
}

/**
 * `POST /v1/orgs/{org}/invitations`, once per address (the API takes one address per call), one after the
 * other; never throws: every address gets its outcome.
 */
export function useCreateInvitations(org: string) {
  const after = useAfterInvitationChange(org);
  return useMutation({
    mutationFn: async ({ emails, role }: { emails: readonly string[]; role: string }) => {
      const outcomes: InviteOutcome[] = [];
      for (const email of emails) {
        try {
          await unwrap(
            api.POST('/v1/orgs/{org}/invitations', { params: { path: { org } }, body: { email, role } }),
          );
          outcomes.push({ email, kind: 'sent', message: 'Invitation sent.' });
        } catch (err) {
          outcomes.push(outcomeOf(email, err));
        }
      }
      return outcomes;
    },
    onSettled: () => after(),
  });
}
