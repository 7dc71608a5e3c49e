import { Envelope } from '../domain/changes';

export type EnvelopeHandler = (envelope: Envelope) => void;

/**
 * Carries applied changes to every replica. A replica joins a project's channel while it has local
 * subscribers in that project and receives each envelope of a joined project exactly once, in the
 * order the project's events were applied.
 */
export abstract class Bus {
  abstract publish(envelope: Envelope): Promise<void>;
  /**
   * Reference counted: the channel stays joined until every join has been matched by a leave. Resolves once
   * the channel is joined, so every envelope published after that is delivered. A join counts even when it
   * rejects (the backend is unreachable): the caller still matches it with one leave, and the bus joins the
   * channel by itself when the backend is back, if the join has not been left by then.
   */
  abstract join(projectId: string): Promise<void>;
  abstract leave(projectId: string): void;
  abstract onEnvelope(handler: EnvelopeHandler): void;
  /**
   * False while envelopes of joined projects may be missed: the backend is unreachable, or the bus has not yet
   * confirmed its joined channels after a reconnect (readiness).
   */
  abstract get connected(): boolean;
  /**
   * Moves on every time envelopes of a joined project may have been missed (a lost connection or subscription),
   * reconnected or not: what was kept up to date by envelopes before is not known to be up to date after.
   */
  get epoch(): number {
    return 0;
  }
}
