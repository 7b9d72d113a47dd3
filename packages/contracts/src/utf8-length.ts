/**
 * UTF-8 bytes of a string as Buffer.byteLength counts them (a lone surrogate as the 3 bytes of U+FFFD, which is
 * also what protobufjs's own short-string writer puts down for one). A call into C++ costs more than this loop
 * for the short ids, names and times of events, so only longer strings go to Buffer.byteLength.
 */
export function utf8ByteLength(value: string): number {
  if (value.length > 64) return Buffer.byteLength(value, 'utf8');
  let bytes = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // the pair: 4 bytes for 2 code units
      i++;
    } else bytes += 2;
  }
  return bytes;
}
