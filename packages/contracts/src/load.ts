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
import { PROTO_FILES, PROTO_LOADER_OPTIONS, type ProtoArea } from './proto-files.js';

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
    def = protoLoader.loadSync(PROTO_FILES[area], PROTO_LOADER_OPTIONS);
    definitions.set(area, def);
  }
  return def;
}

/** Typed grpc-js object of one area: service constructors (clients) and service definitions. */
export function loadProto<A extends ProtoArea>(area: A): ProtoTypes[A] {
  return grpc.loadPackageDefinition(packageDefinition(area)) as unknown as ProtoTypes[A];
}
