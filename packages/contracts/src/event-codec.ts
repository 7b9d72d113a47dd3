import protobuf from 'protobufjs';
import { DECISIONS_ENCODER_LAYOUT, encodeCandidateDecisions, fieldLayout } from './decisions-encoder.js';
import { PROTO_FILES, PROTO_ROOT } from './proto-files.js';
import { decodeSampleCurated } from './sample-decoder.js';
import { encodeSampleCurated, SAMPLE_ENCODER_LAYOUT } from './sample-encoder.js';

type DirectEncoder = (payload: object) => Buffer | undefined;
type DirectDecoder = (body: Uint8Array) => object | undefined;

/**
 * Message types with an encoder of their own, for events sent by the million (the same bytes as protobufjs
 * writes, without its per-field objects), each with the field layout it was written for; an encoder returns
 * undefined for a payload it leaves to protobufjs.
 */
const DIRECT_ENCODERS = new Map<string, { encode: DirectEncoder; layout: Readonly<Record<string, string>> }>([
  ['select.events.v1.CandidateDecisions', { encode: encodeCandidateDecisions, layout: DECISIONS_ENCODER_LAYOUT }],
  ['select.events.v1.SampleCurated', { encode: encodeSampleCurated, layout: SAMPLE_ENCODER_LAYOUT }],
]);
/** Message types with a decoder of their own into the `__Output` shape, with the field layout it reads. */
const DIRECT_DECODERS = new Map<string, { decode: DirectDecoder; layout: Readonly<Record<string, string>> }>([
  ['select.events.v1.SampleCurated', { decode: decodeSampleCurated, layout: SAMPLE_ENCODER_LAYOUT }],
]);
const checkedDecoders = new Map<string, DirectDecoder | null>();

function directDecoder(typeName: string): DirectDecoder | null {
  let decoder = checkedDecoders.get(typeName);
  if (decoder === undefined) {
    const direct = DIRECT_DECODERS.get(typeName);
    const layoutHolds = direct !== undefined && Object.entries(direct.layout).every(([name, layout]) => fieldLayout(lookup(name)) === layout);
    decoder = layoutHolds ? direct.decode : null;
    checkedDecoders.set(typeName, decoder);
  }
  return decoder;
}

/** Per type name: its direct encoder when the loaded proto still has the fields it writes, else null. */
const checkedEncoders = new Map<string, DirectEncoder | null>();

function directEncoder(typeName: string): DirectEncoder | null {
  let encoder = checkedEncoders.get(typeName);
  if (encoder === undefined) {
    const direct = DIRECT_ENCODERS.get(typeName);
    const layoutHolds = direct !== undefined && Object.entries(direct.layout).every(([name, layout]) => fieldLayout(lookup(name)) === layout);
    encoder = layoutHolds ? direct.encode : null;
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
  const direct = directDecoder(typeName)?.(body);
  if (direct !== undefined) return direct as T;
  const type = lookup(typeName);
  try {
    return type.toObject(type.decode(body), TO_OBJECT) as T;
  } catch (cause) {
    throw new EventCodecError(`body is not a valid ${typeName}: ${(cause as Error).message}`, { cause });
  }
}
