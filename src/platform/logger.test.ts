import { describe, expect, it } from 'vitest';
import { LOG_BUFFER_MAX_BYTES, logDestination } from './logger.js';

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
