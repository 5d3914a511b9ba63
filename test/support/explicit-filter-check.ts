import { afterEach } from 'vitest';
import {
  endUncheckedTest,
  takeExplicitFilterViolations,
} from '../../src/platform/tenancy/explicit-filters.js';

/** A vitest setup file: a test during which a tenant scope sent a statement without its explicit
 *  organization_id filter fails, even when the error it got was caught on the way (a job's retry, a 500). */
afterEach(() => {
  endUncheckedTest();
  const found = takeExplicitFilterViolations();
  if (found.length > 0) throw found[0]!;
});
