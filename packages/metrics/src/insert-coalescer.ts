// Group commit for RowBinary inserts: callers that insert into the same table and columns while an INSERT is in
// flight are sent together as the next one. ClickHouse writes a part per INSERT and merges parts afterwards, so
// many small INSERTs cost it more CPU per row than a few large ones (200,000 rows in 5,000-row batches, six at a
// time: about a third less server CPU coalesced, tools/bench/events/insert-parts.mjs); the metrics sink's
// partitions each insert their own batch at about the same time. Each caller's rows are encoded before
// they join a group (a bad row fails only its own call), and a group the server refuses is sent again one
// body at a time, so every caller gets the answer its own rows get.
import { ClickHouseUnavailableError } from './errors.js';

interface Waiting {
  body: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Most bytes of one coalesced INSERT; a single larger body still goes alone. */
export const COALESCE_MAX_BYTES = 64 * 1_048_576;

export class InsertCoalescer {
  private waiting: Waiting[] = [];
  private inFlight = false;

  /** `send` inserts the bodies, in order, as one INSERT. */
  constructor(private readonly send: (bodies: readonly Buffer[]) => Promise<void>) {}

  /** Resolves once the body's rows are in; rejects with the error its INSERT got. */
  add(body: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ body, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

  /** Sends what waits, a group at a time, until nothing does. */
  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.waiting.length > 0) {
        let bytes = 0;
        let count = 0;
        while (count < this.waiting.length && (count === 0 || bytes + (this.waiting[count] as Waiting).body.length <= COALESCE_MAX_BYTES)) {
          bytes += (this.waiting[count] as Waiting).body.length;
          count += 1;
        }
        const group = this.waiting.splice(0, count);
        await this.sendGroup(group);
      }
    } finally {
      this.inFlight = false;
    }
  }

  private async sendGroup(group: readonly Waiting[]): Promise<void> {
    try {
      await this.send(group.map((w) => w.body));
      for (const w of group) w.resolve();
      return;
    } catch (err) {
      // Unreachable server: every caller retries its own rows. Refused by the server: find whose rows it refuses.
      if (group.length === 1 || err instanceof ClickHouseUnavailableError) {
        for (const w of group) w.reject(err);
        return;
      }
    }
    for (const w of group) {
      try {
        await this.send([w.body]);
        w.resolve();
      } catch (err) {
        w.reject(err);
      }
    }
  }
}
