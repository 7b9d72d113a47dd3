import { ServiceError } from '@select/platform';

/** Where the previous page ended: the last job it listed. Opaque to clients (base64url JSON). */
export interface PageCursor {
  createdUnixMs: number;
  jobId: string;
}

export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdUnixMs, cursor.jobId])).toString('base64url');
}

/** INVALID_ARGUMENT for a token this runtime did not issue. */
export function decodePageToken(token: string): PageCursor {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return { createdUnixMs: value[0] as number, jobId: value[1] };
    }
  } catch {
    // reported below
  }
  throw ServiceError.invalidArgument('page_token is not one this service issued; pass the next_page_token of the previous ListJobs page, or none for the first page');
}
