import protobuf from 'protobufjs';
import { DECISIONS_ENCODER_LAYOUT, encodeCandidateDecisions, fieldLayout } from './decisions-encoder.js';
import { PROTO_FILES, PROTO_ROOT } from './proto-files.js';
import { decodeSampleCurated } from './sample-decoder.js';
import { encodeSampleCurated, SAMPLE_ENCODER_LAYOUT } from './sample-encoder.js';

type DirectEncoder = (payload: object) => Buffer | undefined;
type DirectDecoder = (body: Uint8Array) => object | undefined;

/** A codec of our own for one message type, with the field layout (of it and its nested types) it was written for. */
interface Direct<F> {
  fn: F;
  layout: Readonly<Record<string, string>>;
}

/**
 * Message types with an encoder of their own, for events sent by the million (the same bytes as protobufjs
 * writes, without its per-field objects); an encoder returns undefined for a payload it leaves to protobufjs.
 */
const DIRECT_ENCODERS = new Map<string, Direct<DirectEncoder>>([
  ['select.events.v1.CandidateDecisions', { fn: encodeCandidateDecisions, layout: DECISIONS_ENCODER_LAYOUT }],
  ['select.events.v1.SampleCurated', { fn: encodeSampleCurated, layout: SAMPLE_ENCODER_LAYOUT }],
]);
/** Message types with a decoder of their own into the `__Output` shape; undefined leaves a body to protobufjs. */
const DIRECT_DECODERS = new Map<string, Direct<DirectDecoder>>([['select.events.v1.SampleCurated', { fn: decodeSampleCurated, layout: SAMPLE_ENCODER_LAYOUT }]]);
const checkedEncoders = new Map<string, DirectEncoder | null>();
const checkedDecoders = new Map<string, DirectDecoder | null>();

/** A type's own codec from `table` while the loaded proto still has the layout it was written for, else null; checked once per type. */
function checkedDirect<F>(table: Map<string, Direct<F>>, checked: Map<string, F | null>, typeName: string): F | null {
  let fn = checked.get(typeName);
  if (fn === undefined) {
    const direct = table.get(typeName);
    const layoutHolds = direct !== undefined && Object.entries(direct.layout).every(([name, layout]) => fieldLayout(lookup(name)) === layout);
    fn = layoutHolds ? direct.fn : null;
    checked.set(typeName, fn);
  }
  return fn;
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
  const direct = checkedDirect(DIRECT_ENCODERS, checkedEncoders, typeName)?.(payload);
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
  const direct = checkedDirect(DIRECT_DECODERS, checkedDecoders, typeName)?.(body);
  if (direct !== undefined) return direct as T;
  const type = lookup(typeName);
  try {
    return type.toObject(type.decode(body), TO_OBJECT) as T;
  } catch (cause) {
    throw new EventCodecError(`body is not a valid ${typeName}: ${(cause as Error).message}`, { cause });
  }
}
