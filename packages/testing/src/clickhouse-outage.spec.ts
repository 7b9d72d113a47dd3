import { describe, expect, it } from 'vitest';
import { holdClickHouseUp, withClickHouseOutage } from './clickhouse-outage.js';

describe('ClickHouse outage lock', () => {
  it('does not start an outage while a test holds ClickHouse up', async () => {
    const release = await holdClickHouseUp();
    let releasedAt = 0;
    setTimeout(() => {
      releasedAt = Date.now();
      release();
    }, 600);
    const ranAt = await withClickHouseOutage(() => Promise.resolve(Date.now()));
    expect(releasedAt).toBeGreaterThan(0);
    expect(ranAt).toBeGreaterThanOrEqual(releasedAt);
  });

  it('lets holders in again once the outage is over', async () => {
    await withClickHouseOutage(() => Promise.resolve());
    const release = await holdClickHouseUp();
    release();
  });
});
