import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const INFRA = fileURLToPath(new URL('../../../infra/infra.sh', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'select-infra-spec-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('infra/infra.sh', () => {
  it('draws Kafka cluster ids the StorageTool accepts: 22 base64url characters, never a leading "-"', () => {
    // 1 raw draw in 64 starts with '-', which `kafka-storage format -t <id>` reads as an option and refuses
    // ("argument --cluster-id/-t: expected one argument"): CI failed so once. 1,000 draws hold ~16 such ids.
    const out = execFileSync(
      'bash',
      ['-c', `source "$1"; for i in $(seq 1 1000); do kafka_cluster_id; done`, 'infra-spec', INFRA],
      { env: { ...process.env, SELECT_INFRA_DIR: dataDir }, encoding: 'utf8' },
    );
    const ids = out.trim().split('\n');
    expect(ids).toHaveLength(1000);
    expect(ids.filter((id) => !/^[A-Za-z0-9_-]{22}$/.test(id))).toEqual([]);
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    expect(new Set(ids).size).toBe(1000);
  });

  it('sourced, it runs no command (no usage text, no infrastructure started)', () => {
    const out = execFileSync('bash', ['-c', 'source "$1"; echo sourced', 'infra-spec', INFRA], {
      env: { ...process.env, SELECT_INFRA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(out).toBe('sourced\n');
  });
});
