import type { Options } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/** Directory holding `select/<area>/v1/*.proto`; the include root for every proto import. */
export const PROTO_ROOT = fileURLToPath(new URL('../../../protos/', import.meta.url));

/** Proto files of each versioned package, relative to PROTO_ROOT. */
export const PROTO_FILES = {
  common: 'select/common/v1/common.proto',
  events: 'select/events/v1/events.proto',
  embedding: 'select/embedding/v1/embedding.proto',
  retrieval: 'select/retrieval/v1/retrieval.proto',
  generation: 'select/generation/v1/generation.proto',
  trainer: 'select/trainer/v1/trainer.proto',
  evaluator: 'select/evaluator/v1/evaluator.proto',
  curation: 'select/curation/v1/curation.proto',
} as const;

export type ProtoArea = keyof typeof PROTO_FILES;

/**
 * The one set of proto-loader options every service and client uses, matching the generated types:
 * camelCase fields, 64-bit integers as decimal strings, enums as their names, defaults filled in,
 * and a virtual field naming the set member of each oneof.
 */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};
