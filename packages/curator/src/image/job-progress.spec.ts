import { describe, expect, it } from 'vitest';
import { jobProgressText } from './service-calls.js';

describe("a service job's progress in a build's status", () => {
  it('counts with the total, without it, says queued with the service\'s reason, else starting', () => {
    const job = { jobId: 'j', state: 'JOB_STATE_RUNNING', message: '' };
    expect(jobProgressText({ ...job, done: '1200', total: '7458', unit: 'samples' })).toBe('1200/7458 samples');
    expect(jobProgressText({ ...job, done: '1200', total: '0', unit: 'samples' })).toBe('1200 samples');
    expect(jobProgressText({ ...job, done: '0', total: '0', unit: 'samples' })).toBe('starting');
    expect(jobProgressText(job)).toBe('starting');
    // a dataset job waiting for the embedding service's one slot (EMBEDDING_JOB_CONCURRENCY) while another pool is embedded
    expect(jobProgressText({ ...job, state: 'JOB_STATE_QUEUED', message: 'queued behind 1 running job(s)', done: '0', total: '7458' })).toBe('queued behind 1 running job(s)');
    expect(jobProgressText({ ...job, state: 'JOB_STATE_QUEUED' })).toBe('queued');
  });
});
