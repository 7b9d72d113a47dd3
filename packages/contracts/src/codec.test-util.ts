// Shared by the direct codec specs: the events protos as protobufjs loads them, and a seeded random source.
import protobuf from 'protobufjs';
import { PROTO_FILES, PROTO_ROOT } from './proto-files.js';

/** The events protos (and their imports) in a protobufjs Root, as event-codec.ts loads them. */
export function loadEventsRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
  root.loadSync(PROTO_FILES.events, { keepCase: false });
  root.resolveAll();
  return root;
}

/** A deterministic pseudo-random source in [0, 1), so a failing case can be rerun. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
