// Exponential backoff with jitter, shared by the batched writer and by anything that waits for ClickHouse.
// Jitter spreads the retries of many writers so a recovering server is not hit by all of them at once.

export interface RetryPolicy {
  /** Delay before the first retry. @default 100 */
  initialDelayMs: number;
  /** Upper bound of one delay. @default 5000 */
  maxDelayMs: number;
  /** Growth factor per attempt. @default 2 */
  multiplier: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  jitter: number;
  /** Stop retrying once this much time has passed since the first attempt. @default 60000 */
  maxElapsedMs: number;
}

const DEFAULT_RETRY: RetryPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 0.2,
  maxElapsedMs: 60_000,
};

export function addRetryDefaults(policy: Partial<RetryPolicy> = {}): RetryPolicy {
  const defined = Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined));
  const filled: RetryPolicy = { ...DEFAULT_RETRY, ...defined };
  if (!(filled.jitter >= 0 && filled.jitter <= 1)) throw new RangeError('retry jitter must be within [0, 1]');
  if (!(filled.initialDelayMs > 0) || !(filled.maxDelayMs >= filled.initialDelayMs)) {
    throw new RangeError('retry delays must be positive and maxDelayMs >= initialDelayMs');
  }
  if (!(filled.maxElapsedMs >= 0)) throw new RangeError('retry maxElapsedMs must be >= 0');
  return filled;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** attempt);
  return Math.max(0, Math.round(base * (1 - policy.jitter + 2 * policy.jitter * random())));
}
