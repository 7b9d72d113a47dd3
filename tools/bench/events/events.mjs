// The events every contender of the events benchmark sends: SampleCurated payloads whose protobuf body is
// RECORD_BYTES (200) long, as ProducerPerformance's --record-size 200 records are, spread over SHIFTS shift
// ids (the topic's key) so every partition of select.samples.v1 gets its share.
import { encodeMessage } from '@select/contracts';
import { EVENT_TYPES } from '@select/events';

export const RECORD_BYTES = 200;
export const SHIFTS = 24;

const base = (seq) => ({
  sampleId: `s-${String(seq).padStart(10, '0')}`,
  shiftId: `bench-shift-${String(seq % SHIFTS).padStart(2, '0')}`,
  strategy: 'retrieval',
  classIndex: seq % 1000,
  wnid: `n${String(1440764 + (seq % 1000)).padStart(8, '0')}`,
  sourceId: `laion/${seq}`,
  score: 0.25 + (seq % 1000) / 4000,
  shard: `${String(Math.floor(seq / 1000) % 100000).padStart(5, '0')}.tar`,
  key: String(seq % 1000).padStart(6, '0'),
  width: 256,
  height: 256,
  provenance: { strategy: 'retrieval', paramsHash: 'c0ffee12', sourceId: `laion/${seq}`, score: 0.5, modelIds: ['clip-vit-b32'], prompt: '', seed: '0', extra: {} },
});

// Padding in `provenance.prompt` brings every body to exactly RECORD_BYTES; only the digit count of the
// sequence number changes the length, so the padding is worked out once per digit count.
const paddingByDigits = new Map();
function padding(seq) {
  const digits = String(seq).length;
  let pad = paddingByDigits.get(digits);
  if (pad === undefined) {
    const payload = base(seq);
    payload.provenance.prompt = 'p';
    pad = 1 + RECORD_BYTES - encodeMessage(EVENT_TYPES.SampleCurated, payload).length;
    paddingByDigits.set(digits, pad);
  }
  return pad;
}

/** The payload of event number `seq`; its encoded protobuf body is RECORD_BYTES long. */
export function samplePayload(seq) {
  const payload = base(seq);
  payload.provenance.prompt = 'p'.repeat(padding(seq));
  return payload;
}
