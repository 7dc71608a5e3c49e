/** What the turn flushes: a connection holding the writes it was given in this event-loop turn. */
export interface HeldWrites {
  /** Hands what it holds to the kernel (one system call for all of it) and stops holding. */
  release(): void;
}

/**
 * Coalesced delivery. A connection that gets its first frame in an event-loop turn corks its socket and
 * registers here; every frame of the turn joins the cork, and once the turn's I/O callbacks have all run
 * (`setImmediate`: the check phase right after the poll phase, no timer) each connection is uncorked, so
 * the frames due to one socket in one turn leave in one `writev`. Envelopes that came together (one read of
 * the Redis subscriber connection, one HTTP batch, several posts read in one poll), a snapshot and the live
 * frames replayed after it, thus cost one system call per connection instead of one per frame; a lone frame
 * still leaves in the turn it was sent, delayed by no timer.
 */
export class TurnWrites {
  private held: HeldWrites[] = [];
  private scheduled = false;
  private readonly flush = (): void => {
    const held = this.held;
    this.held = [];
    this.scheduled = false;
    for (const h of held) h.release();
    this.onWrites?.(held.length);
  };

  /** `onWrites`: told how many writes went to the kernel (the Prometheus counter). */
  constructor(private readonly onWrites?: (writes: number) => void) {}

  /** A holder that had to hand its frames over within the turn (see ClientConnection's early flush). */
  wroteEarly(): void {
    this.onWrites?.(1);
  }

  hold(writes: HeldWrites): void {
    this.held.push(writes);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}
