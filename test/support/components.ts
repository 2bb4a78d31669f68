import { describe } from 'vitest';

/**
 * Suites that need a system component (PostgreSQL, Redis, root + linuxptp,
 * Prometheus, Chromium) run when it is present and skip with a clear message
 * when it is missing. With AIOPS_TEST_STRICT=1 (CI) a missing component is a
 * failure instead of a skip.
 */
export const strict = process.env.AIOPS_TEST_STRICT === '1';

export function describeWithComponent(
  component: string,
  missingReason: string | undefined,
  name: string,
  body: () => void,
): void {
  if (missingReason === undefined) {
    describe(name, body);
    return;
  }
  if (strict) {
    describe(name, () => {
      throw new Error(`${component} is required (AIOPS_TEST_STRICT=1) but missing: ${missingReason}`);
    });
    return;
  }
  console.warn(`[skip] ${name}: needs ${component}: ${missingReason}`);
  describe.skip(`${name} (skipped: needs ${component}: ${missingReason})`, body);
}

export const pgUrl = process.env.AIOPS_TEST_PG_URL;
export const redisUrl = process.env.AIOPS_TEST_REDIS_URL;
export const pgMissing = pgUrl ? undefined : 'AIOPS_TEST_PG_URL is not set';
export const redisMissing = redisUrl ? undefined : 'AIOPS_TEST_REDIS_URL is not set';
