import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { createPlatformDb } from '../platform/db/platform-db.js';
import { connectForCli } from './connect.js';
import { createPlatformAdmin } from './admin-create.js';
import { createPasswordHasher } from '../modules/auth/passwords.js';

const USAGE = `usage: saasready admin create --email <email>`;

function fail(message: string): never {
  process.stderr.write(`saasready: ${message}\n`);
  process.exit(1);
}

/** `npx saasready ...` */
async function main(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv;
  if (group !== 'admin' || command !== 'create') fail(USAGE);
  const { values } = parseArgs({ args: rest, options: { email: { type: 'string' } }, strict: true });
  if (!values.email) fail(USAGE);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`);
    throw err;
  }
  const log = createLogger({ level: 'warn' });
  const { pool, close } = await connectForCli(config, log);
  const db = createPlatformDb(pool);
  try {
    const hasher = createPasswordHasher();
    const result = await createPlatformAdmin(
      db,
      values.email,
      () => randomBytes(18).toString('base64url'),
      (p) => hasher.hash(p),
    );
    if (result.created) {
      process.stdout.write(
        `created platform administrator ${result.email}\ninitial password (shown once): ${result.password}\n`,
      );
    } else {
      process.stdout.write(`${result.email} is now a platform administrator\n`);
    }
  } finally {
    await db.destroy();
    await close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
