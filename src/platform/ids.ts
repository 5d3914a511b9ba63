import { randomBytes } from 'node:crypto';

let lastMs = 0;
let seq = 0;

/** Randomness drawn 4 KiB at a time (as `crypto.randomUUID` caches its own): one `randomBytes` call per
 *  id cost more than the rest of the id. */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let pooled = 0;

/** Copies `n` fresh random bytes into `into` at `offset`. */
function fillRandom(into: Buffer, offset: number, n: number): void {
  if (pooled + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    pooled = 0;
  }
  pool.copy(into, offset, pooled, pooled + n);
  pooled += n;
}

/**
 * `n` (at most 64) fresh random bytes from the same pool: a view that no other caller ever gets (the pool
 * is consumed, never refilled in place). For nonces drawn per value (personal-seal.ts), where one
 * `randomBytes` call each cost more than the encryption itself on a loaded machine.
 */
export function pooledRandomBytes(n: number): Buffer {
  if (n > 64) throw new RangeError('pooledRandomBytes serves at most 64 bytes');
  if (pooled + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    pooled = 0;
  }
  const out = pool.subarray(pooled, pooled + n);
  pooled += n;
  return out;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit millisecond timestamp then randomness, so ids sort by creation time
 * and work as stable pagination cursors. Monotonic within a process.
 */
export function uuidv7(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    seq = (seq + 1) & 0xfff;
    if (seq === 0) lastMs += 1;
    ms = lastMs;
  } else {
    lastMs = ms;
    const r = Buffer.allocUnsafe(2);
    fillRandom(r, 0, 2);
    seq = r.readUInt16BE(0) & 0x7ff;
  }
  const b = Buffer.allocUnsafe(16);
  fillRandom(b, 0, 16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
