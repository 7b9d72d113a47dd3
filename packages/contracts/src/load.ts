import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as CommonProto } from './generated/common.js';
import type { ProtoGrpcType as CurationProto } from './generated/curation.js';
import type { ProtoGrpcType as EmbeddingProto } from './generated/embedding.js';
import type { ProtoGrpcType as EvaluatorProto } from './generated/evaluator.js';
import type { ProtoGrpcType as EventsProto } from './generated/events.js';
import type { ProtoGrpcType as GenerationProto } from './generated/generation.js';
import type { ProtoGrpcType as RetrievalProto } from './generated/retrieval.js';
import type { ProtoGrpcType as TrainerProto } from './generated/trainer.js';
import { buildFileDescriptors, encodeFileDescriptors, type FileDescriptorOptions } from './file-descriptors.js';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_ROOT, type ProtoArea } from './proto-files.js';

interface ProtoTypes {
  common: CommonProto;
  events: EventsProto;
  embedding: EmbeddingProto;
  retrieval: RetrievalProto;
  generation: GenerationProto;
  trainer: TrainerProto;
  evaluator: EvaluatorProto;
  curation: CurationProto;
}

const definitions = new Map<ProtoArea, protoLoader.PackageDefinition>();

/** The proto-loader package definition of one area (memoised: protos are parsed once per process). */
export function packageDefinition(area: ProtoArea): protoLoader.PackageDefinition {
  let def = definitions.get(area);
  if (!def) {
    def = loadPackageDefinition([PROTO_FILES[area]]);
    definitions.set(area, def);
  }
  return def;
}

/**
 * Loads .proto files (import paths) with PROTO_LOADER_OPTIONS, as proto-loader does, but every entry
 * carries the real FileDescriptorProtos of the files and their imports (`fileDescriptorProtos`), under
 * their import names with their dependency lists, instead of proto-loader's per-package merge. Server
 * reflection serves these, so grpcurl and other languages' reflection clients can resolve every type.
 * `includeDirs` are searched before the project's protos/ directory.
 */
export function loadPackageDefinition(files: readonly string[], options: FileDescriptorOptions = {}): protoLoader.PackageDefinition {
  const includeDirs = [...(options.includeDirs ?? []), PROTO_ROOT];
  const definition = protoLoader.loadSync([...files], { ...PROTO_LOADER_OPTIONS, includeDirs });
  const descriptors = encodeFileDescriptors(buildFileDescriptors(files, { ...options, includeDirs }));
  for (const entry of Object.values(definition)) {
    if ('fileDescriptorProtos' in entry) (entry as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos = descriptors;
  }
  return definition;
}

/** Typed grpc-js object of one area: service constructors (clients) and service definitions. */
export function loadProto<A extends ProtoArea>(area: A): ProtoTypes[A] {
  return grpc.loadPackageDefinition(packageDefinition(area)) as unknown as ProtoTypes[A];
}
