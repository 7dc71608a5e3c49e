/** What the turn flushes: a connection holding the writes it was given in this event-loop turn. */
export interface HeldWrites {
  /** Hands what it holds to the kernel (one system call for all of it) and stops holding. */
  release(): void;
}

/**
 * Coalesced delivery. A connection's first frame in an event-loop turn is written at once, as it would be
 * without coalescing (a lone frame costs nothing more and waits for nothing); a second frame in the same turn
 * corks the socket and registers here, every later frame of the turn joins the cork, and once the turn's I/O
 * callbacks have all run (`setImmediate`: the check phase right after the poll phase, no timer) each held
 * connection is uncorked, so the rest of the turn's frames leave in one `writev`. Envelopes that came together
 * (one read of the Redis subscriber connection, one HTTP batch, several posts read in one poll), a snapshot and
 * the live frames replayed after it, thus cost two system calls per connection instead of one per frame.
 * Corking every first frame too was measured: Node's cork and buffered-write path cost ~4 µs per frame more than
 * a plain write, which at low rates (one frame per connection and turn) is pure loss.
 */
export class TurnWrites {
  /** Advances at the end of every turn in which a frame was written: tells a turn's first frame from the others. */
  current = 0;
  private held: HeldWrites[] = [];
  private direct = 0;
  private scheduled = false;
  private readonly flush = (): void => {
    const held = this.held;
    this.held = [];
    this.scheduled = false;
    this.current++;
    for (const h of held) h.release();
    this.onWrites?.(held.length + this.direct);
    this.direct = 0;
  };

  /** `onWrites`: told how many writes went to the kernel (the Prometheus counter). */
  constructor(private readonly onWrites?: (writes: number) => void) {}

  /** A turn's first frame of a connection, written at once. */
  wroteDirect(): void {
    this.direct++;
    this.schedule();
  }

  /** A holder that had to hand its frames over within the turn (see ClientConnection's early flush). */
  wroteEarly(): void {
    this.direct++;
  }

  hold(writes: HeldWrites): void {
    this.held.push(writes);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}
