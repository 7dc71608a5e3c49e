/**
 * A text frame to send to one or many clients: the JSON payload, and its WebSocket encoding (RFC 6455 §5.2:
 * FIN, opcode text, no mask as a server sends it, then the payload length and the payload) built once and
 * shared by every recipient. A fan-out to N sockets then costs N plain writes of the same bytes, instead of
 * N frame headers built and N two-buffer writes.
 */
export class OutboundFrame {
  private encoded: Buffer | null = null;

  constructor(readonly payload: Buffer) {}

  static of(text: string): OutboundFrame {
    return new OutboundFrame(Buffer.from(text));
  }

  /** The frame as it goes on the wire (header + payload in one buffer), built on first use. */
  get wire(): Buffer {
    this.encoded ??= encodeTextFrame(this.payload);
    return this.encoded;
  }
}

const FIN_TEXT = 0x81;

/** Header + payload of one final, unmasked text frame. */
export function encodeTextFrame(payload: Buffer): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.from([FIN_TEXT, len]);
  } else if (len < 0x10000) {
    header = Buffer.allocUnsafe(4);
    header[0] = FIN_TEXT;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.allocUnsafe(10);
    header[0] = FIN_TEXT;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload], header.length + len);
}
