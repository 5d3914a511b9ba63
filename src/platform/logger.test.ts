import { describe, expect, it } from 'vitest';
import { isoTime, isoTimeAt, LOG_BUFFER_MAX_BYTES, logDestination } from './logger.js';

describe('the asynchronous log destination', () => {
  it('drops lines beyond its bound instead of holding them all while a write is pending', async () => {
    const dest = logDestination('/dev/null') as ReturnType<typeof logDestination> & {
      on(event: 'drop', fn: (data: string) => void): void;
      on(event: 'ready', fn: () => void): void;
      end(): void;
    };
    let dropped = 0;
    dest.on('drop', (data) => (dropped += data.length));
    // Written in one tick: nothing reaches the file meanwhile (it is still being opened).
    const line = `${'x'.repeat(1024 * 1024 - 1)}\n`;
    for (let i = 0; i < 20; i++) dest.write(line);
    expect(dropped).toBeGreaterThanOrEqual(20 * line.length - LOG_BUFFER_MAX_BYTES);
    await new Promise<void>((resolve) => dest.on('ready', resolve));
    dest.end();
  });
});

describe('the log time', () => {
  it("writes exactly pino's isoTime (Date#toISOString) for any instant, across seconds and days", () => {
    const instants = [0, 1, 999, 1000, 1001, 59_999, 86_399_999, -1, -999, -1000, -1001, 253_402_300_799_999];
    for (let i = 0; i < 20_000; i++) instants.push(Math.floor(Math.random() * 4e12) - 1e12);
    for (let t = Date.now(), i = 0; i < 3_000; i++) instants.push(t + i); // consecutive, as a server logs
    for (const t of instants) expect(isoTimeAt(t)).toBe(`,"time":"${new Date(t).toISOString()}"`);
    expect(isoTime()).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  });
});
