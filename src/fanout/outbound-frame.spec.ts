import { EventEmitter } from 'node:events';
import * as ws from 'ws';
import { OutboundFrame } from './outbound-frame';

/** The `ws` library's frame parser (exported at runtime, not in its typings). */
const { Receiver } = ws as unknown as { Receiver: new (opts: { isServer: boolean }) => EventEmitter & { write(chunk: Buffer): void } };

/** Decodes frames with the `ws` library's own receiver, as a client would. */
function decode(wire: Buffer): Array<{ text: string; binary: boolean }> {
  const got: Array<{ text: string; binary: boolean }> = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) => got.push({ text: data.toString(), binary: isBinary }));
  receiver.on('error', (err: Error) => {
    throw err;
  });
  receiver.write(wire);
  return got;
}

describe('OutboundFrame', () => {
  // Each length encoding of RFC 6455 §5.2 and its boundaries: 7-bit, 16-bit, 64-bit.
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('a %i-byte payload decodes as one text message', (n) => {
    const text = 'x'.repeat(n);
    const got = decode(OutboundFrame.of(text).wire);
    expect(got).toEqual([{ text, binary: false }]);
  });

  it('keeps multi-byte UTF-8 intact (the length counts bytes, not characters)', () => {
    const text = JSON.stringify({ topic: '/p/requests', message: { text: 'héllo ✓ 👋'.repeat(20) } });
    const frame = OutboundFrame.of(text);
    expect(decode(frame.wire)).toEqual([{ text, binary: false }]);
    expect(frame.payload.toString()).toBe(text);
  });

  it('two frames back to back decode as two messages', () => {
    const a = OutboundFrame.of('{"a":1}');
    const b = OutboundFrame.of('{"b":2}');
    expect(decode(Buffer.concat([a.wire, b.wire])).map((m) => m.text)).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('keeps the payload as a view of the encoded frame, not a second copy', () => {
    const f = OutboundFrame.of('{"a":1}');
    expect(f.payload.toString()).toBe('{"a":1}');
    expect(f.payload.buffer).toBe(f.wire.buffer);
  });
});
