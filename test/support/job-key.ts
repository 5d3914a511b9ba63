import { installJobPayloadKey } from '../../src/platform/jobs/payload-seal.js';

/** The KEK of every test process (test apps run on it; job payloads are sealed under a key derived from it). */
export const TEST_KEK = Buffer.alloc(32, 7);

// A vitest setup file: code that queues jobs without a composition (services built by hand) seals too.
installJobPayloadKey(TEST_KEK);
