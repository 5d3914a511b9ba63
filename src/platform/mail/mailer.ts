import type { Transporter } from 'nodemailer';
import { lazyImport } from '../lazy-import.js';

const nodemailer = lazyImport(() => import('nodemailer'));

/** A message as modules queue it (job `mail.send`). */
export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
}

/** A delivered (or, in development, captured) message. */
export interface SentMail extends MailMessage {
  readonly id: string;
  readonly at: string;
}

export interface Mailer {
  send(msg: MailMessage, opts?: { messageId?: string }): Promise<void>;
  /** The development mailbox (newest first); empty when mail goes to an SMTP server. */
  recent(): readonly SentMail[];
  close(): void;
}

/**
 * Mail over SMTP (`SMTP_URL`, nodemailer). Without one, development mail goes to an in-memory mailbox
 * (shown at `/dev/mailbox`) and to the log, so sign-up and invitations work on a fresh machine.
 */
export function createMailer(opts: {
  smtpUrl?: string;
  from: string;
  onCapture?: (m: SentMail) => void;
}): Mailer {
  const box: SentMail[] = [];
  // nodemailer loads with the first mail sent over SMTP.
  const smtpUrl = opts.smtpUrl;
  let transport: Promise<Transporter> | undefined;
  let closed = false;
  const smtp = smtpUrl
    ? () =>
        (transport ??= nodemailer().then(({ default: mail }) => {
          const t = mail.createTransport(smtpUrl);
          if (closed) t.close();
          return t;
        }))
    : undefined;
  return {
    async send(msg, sendOpts) {
      const id = sendOpts?.messageId ?? `${Date.now()}.${Math.random().toString(36).slice(2)}@saasready`;
      if (smtp) {
        await (
          await smtp()
        ).sendMail({
          from: opts.from,
          to: msg.to,
          subject: msg.subject,
          text: msg.text,
          html: msg.html,
          messageId: `<${id}>`,
        });
        return;
      }
      const sent: SentMail = { ...msg, id, at: new Date().toISOString() };
      box.unshift(sent);
      box.length = Math.min(box.length, 200);
      opts.onCapture?.(sent);
    },
    recent: () => box,
    close: () => {
      closed = true;
      void transport?.then((t) => t.close());
    },
  };
}
