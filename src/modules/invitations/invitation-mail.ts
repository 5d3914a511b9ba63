import type { MailMessage } from '../../platform/mail/mailer.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The invitation mail. The link carries the only copy of the token. */
export function invitationMail(to: string, organizationName: string, link: string): MailMessage {
  return {
    to,
    subject: `You are invited to ${organizationName} on SaaSReady`,
    text: `You have been invited to join ${organizationName}.\n\nAccept the invitation: ${link}\n\nIf you did not expect this, ignore this mail.`,
    html: `<p>You have been invited to join <b>${escapeHtml(organizationName)}</b>.</p><p><a href="${escapeHtml(link)}">Accept the invitation</a></p>`,
  };
}
