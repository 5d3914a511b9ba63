import { builtinEnvironments, type Environment } from 'vitest/runtime';

/**
 * The console files' Vitest environment: Node's, plus the end of the process's shared console app and
 * Chromium (test/console/support.ts). Vitest runs test/console/ without isolation (vitest.config.ts), so
 * one test process runs file after file; its environment is set up once and torn down when Vitest stops
 * the process, after its last file: the one moment nothing of them is in use any more.
 *
 * This module is loaded apart from the test files' modules: it reaches the support module's closer
 * through `globalThis`, where support.ts keeps what it shares.
 */
const SHARED = Symbol.for('saasready.test.console.shared');

interface SharedConsole {
  close?: () => Promise<void>;
}

export default {
  name: 'saasready-console',
  viteEnvironment: 'ssr',
  async setup(global, options) {
    const node = await builtinEnvironments.node.setup(global, options);
    return {
      async teardown(g) {
        try {
          await (globalThis as Record<symbol, SharedConsole | undefined>)[SHARED]?.close?.();
        } finally {
          await node.teardown(g);
        }
      },
    };
  },
} satisfies Environment;
