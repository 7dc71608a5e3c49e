/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/**
 * The cluster hash slot of a key or sharded channel, as Redis computes it: CRC16 (XMODEM) of the hash tag (the
 * text between the first `{` and the next `}`, when not empty) or else of the whole key, modulo 16384.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]! << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % CLUSTER_SLOTS;
}
