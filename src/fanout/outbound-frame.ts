/**
 * A text frame to send to one or many clients, held as it goes on the wire (RFC 6455 §5.2: FIN, opcode text,
 * no mask as a server sends it, the payload length, then the payload) in one buffer built once and shared by
 * every recipient. A fan-out to N sockets then costs N plain writes of the same bytes, instead of N frame
 * headers built and N two-buffer writes.
 */
export class OutboundFrame {
  /** The JSON text, a view into `wire`. */
  readonly payload: Buffer;

  private constructor(
    readonly wire: Buffer,
    headerLength: number,
    /** The topic the frame is published on, when it is one topic's (slow-consumer allowances are kept per topic). */
    readonly topic: string,
  ) {
    this.payload = wire.subarray(headerLength);
  }

  static of(text: string, topic = ''): OutboundFrame {
    const length = Buffer.byteLength(text);
    const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
    const wire = Buffer.allocUnsafe(headerLength + length);
    wire[0] = FIN_TEXT;
    if (length < 126) {
      wire[1] = length;
    } else if (length < 0x10000) {
      wire[1] = 126;
      wire.writeUInt16BE(length, 2);
    } else {
      wire[1] = 127;
      wire.writeBigUInt64BE(BigInt(length), 2);
    }
    wire.write(text, headerLength, 'utf8');
    return new OutboundFrame(wire, headerLength, topic);
  }
}

const FIN_TEXT = 0x81;
