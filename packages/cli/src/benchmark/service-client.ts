// The main job talks to the services the way a user's own program does: over their gRPC APIs, with the
// published protos. This is the small client it uses: unary calls, server streams, and waiting for a job.
import { packageDefinition, type ProtoArea } from '@select/contracts';
import { GrpcCallError, checkHealth, createGrpcClient, statusName, unary, type GenericServiceClient } from '@select/platform';

/** A job's status as every service's job API returns it (select.common.v1.JobStatus, camelCase fields). */
export interface JobStatusMessage {
  jobId: string;
  kind: string;
  state: string;
  done: string;
  total: string;
  unit: string;
  message: string;
  outputUri: string;
}

const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

export function isTerminal(state: string): boolean {
  return TERMINAL.has(state);
}

interface StreamLike<T> {
  on(event: 'data', listener: (message: T) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (error: Error & { code?: number }) => void): this;
  cancel(): void;
}

/** One service's client: `call('StartCuration', request)`, `stream('WatchJob', ref, onMessage)`. */
export class ServiceClient {
  private readonly client: GenericServiceClient;

  constructor(
    readonly name: string,
    readonly address: string,
    area: ProtoArea,
    serviceName: string,
  ) {
    this.client = createGrpcClient(packageDefinition(area), serviceName, address, { defaultDeadlineMs: 120_000 });
  }

  /** Whether the service answers SERVING on its health service. */
  async healthy(): Promise<boolean> {
    return (await checkHealth(this.address, { deadlineMs: 2_000 }).catch(() => 'UNKNOWN')) === 'SERVING';
  }

  /** Whether the service's API has `method` (the proto this CLI was built with). */
  has(method: string): boolean {
    return typeof (this.client as unknown as Record<string, unknown>)[lowerFirst(method)] === 'function';
  }

  call<Res>(method: string, request: object, deadlineMs = 120_000): Promise<Res> {
    return unary<Res>(this.client, lowerFirst(method), request, { deadlineMs });
  }

  /** Reads a server stream to its end, handing each message to `onMessage`; rejects with the stream's error. */
  stream<T>(method: string, request: object, onMessage: (message: T) => void, deadlineMs = 3_600_000): Promise<void> {
    const fn = (this.client as unknown as Record<string, (request: object, options: object) => StreamLike<T>>)[lowerFirst(method)];
    if (typeof fn !== 'function') return Promise.reject(new Error(`${this.name} has no method ${method}`));
    const call = fn.call(this.client, request, { deadline: Date.now() + deadlineMs });
    return new Promise((resolve, reject) => {
      call.on('data', onMessage);
      call.on('end', resolve);
      call.on('error', reject);
    });
  }

  /**
   * Follows a job until it ends: WatchJob when the service has it (status changes as they happen), else GetJob
   * every second. Resolves with the final status, whatever its state.
   */
  async waitForJob(jobId: string, onStatus: (status: JobStatusMessage) => void, ref: object = { jobId }): Promise<JobStatusMessage> {
    let last: JobStatusMessage | undefined;
    if (this.has('WatchJob')) {
      try {
        await this.stream<JobStatusMessage>('WatchJob', ref, (status) => {
          last = status;
          onStatus(status);
        });
        if (last && isTerminal(last.state)) return last;
      } catch (err) {
        // A stream cut by a restart of the service: fall back to polling, which survives it.
        if (!(err instanceof Error)) throw err;
      }
    }
    for (;;) {
      try {
        const status = await this.call<JobStatusMessage>('GetJob', ref, 30_000);
        if (!last || status.state !== last.state || status.done !== last.done) onStatus(status);
        last = status;
        if (isTerminal(status.state)) return status;
      } catch (err) {
        if (!(err instanceof GrpcCallError) || statusName(err.code) !== 'UNAVAILABLE') throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  close(): void {
    this.client.close();
  }
}

function lowerFirst(method: string): string {
  return method.charAt(0).toLowerCase() + method.slice(1);
}
