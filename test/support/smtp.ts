import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

/** A received message: envelope recipients and the raw RFC 822 source. */
export interface ReceivedMail {
  readonly to: string[];
  readonly raw: string;
}

/**
 * A real SMTP server in process, on a free port of 127.0.0.1, collecting what it receives. With
 * `spoolDir`, every message is also written there as one JSON file (named in arrival order), so other
 * processes can read it (see `sharedMailbox` in mailbox.ts).
 */
export async function startSmtpServer(opts: { spoolDir?: string } = {}): Promise<{
  url: string;
  received: ReceivedMail[];
  waitFor: (pred: (m: ReceivedMail) => boolean, timeoutMs?: number) => Promise<ReceivedMail>;
  stop: () => Promise<void>;
}> {
  const received: ReceivedMail[] = [];
  if (opts.spoolDir) mkdirSync(opts.spoolDir, { recursive: true });
  let seq = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString()));
      stream.on('end', () => {
        const mail = { to: session.envelope.rcptTo.map((r) => r.address), raw };
        received.push(mail);
        if (opts.spoolDir) {
          // Written under a temporary name, then renamed: a reader never sees half a message.
          const name = `${String(++seq).padStart(9, '0')}.json`;
          writeFileSync(join(opts.spoolDir, `.${name}`), JSON.stringify(mail));
          renameSync(join(opts.spoolDir, `.${name}`), join(opts.spoolDir, name));
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    waitFor: (pred, timeoutMs) => poll(() => received.find(pred), timeoutMs),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls `find` every 50 ms until it returns something (or throws after `timeoutMs`). */
export async function poll<T>(find: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const hit = find();
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no matching mail arrived');
}

/** The decoded text of a quoted-printable/plain message body, enough to find links in it. */
export function mailText(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
