import protobuf from 'protobufjs';
import { DECISIONS_ENCODER_LAYOUT, encodeCandidateDecisions, fieldLayout } from './decisions-encoder.js';
import { PROTO_FILES, PROTO_ROOT } from './proto-files.js';

type DirectEncoder = (payload: object) => Buffer | undefined;

/**
 * Message types with an encoder of their own, for events sent by the million (the same bytes as protobufjs
 * writes, without its per-field objects); an encoder returns undefined for a payload it leaves to protobufjs.
 */
const DIRECT_ENCODERS = new Map<string, DirectEncoder>([['select.events.v1.CandidateDecisions', encodeCandidateDecisions]]);
/** Per type name: its direct encoder when the loaded proto still has the fields it writes, else null. */
const checkedEncoders = new Map<string, DirectEncoder | null>();

function directEncoder(typeName: string): DirectEncoder | null {
  let encoder = checkedEncoders.get(typeName);
  if (encoder === undefined) {
    encoder = DIRECT_ENCODERS.get(typeName) ?? null;
    if (encoder !== null) {
      const layoutHolds = Object.entries(DECISIONS_ENCODER_LAYOUT).every(([name, layout]) => fieldLayout(lookup(name)) === layout);
      if (!layoutHolds) encoder = null;
    }
    checkedEncoders.set(typeName, encoder);
  }
  return encoder;
}

/** Decoding options that give the same shapes as the generated `__Output` types. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

let root: protobuf.Root | undefined;

function eventsRoot(): protobuf.Root {
  if (!root) {
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
    r.loadSync(PROTO_FILES.events, { keepCase: false });
    r.resolveAll();
    root = r;
  }
  return root;
}

/** Thrown when a body cannot be encoded or decoded as the named message. */
export class EventCodecError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventCodecError';
  }
}

function lookup(typeName: string): protobuf.Type {
  try {
    return eventsRoot().lookupType(typeName);
  } catch (cause) {
    throw new EventCodecError(`unknown event message type "${typeName}"`, { cause });
  }
}

/**
 * Protobuf-encodes a payload as the fully qualified message type, e.g. "select.events.v1.SampleCurated".
 * The payload is converted once (`fromObject`: enum names, 64-bit decimal strings), and the converted
 * message is verified and encoded (converting it a second time for the encoder cost ~10 % of an event's
 * encoding).
 */
export function encodeMessage(typeName: string, payload: object): Buffer {
  const direct = directEncoder(typeName)?.(payload);
  if (direct !== undefined) return direct;
  const type = lookup(typeName);
  const message = type.fromObject(payload as Record<string, unknown>);
  const invalid = type.verify(message);
  if (invalid) throw new EventCodecError(`invalid ${typeName}: ${invalid}`);
  const bytes = type.encode(message).finish();
  // Node's writer already returns a Buffer: no copy.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

/** Decodes a protobuf body into the `__Output` shape of the message type. */
export function decodeMessage<T>(typeName: string, body: Uint8Array): T {
  const type = lookup(typeName);
  try {
    return type.toObject(type.decode(body), TO_OBJECT) as T;
  } catch (cause) {
    throw new EventCodecError(`body is not a valid ${typeName}: ${(cause as Error).message}`, { cause });
  }
}
