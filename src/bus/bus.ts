import { Envelope } from '../domain/changes';

export type EnvelopeHandler = (envelope: Envelope) => void;

/**
 * Carries applied changes to every replica. A replica joins a project's channel while it has local
 * subscribers in that project and receives each envelope of a joined project exactly once, in the
 * order the project's events were applied.
 */
export abstract class Bus {
  abstract publish(envelope: Envelope): Promise<void>;
  /** Reference counted: the channel stays joined until every join has been matched by a leave. */
  abstract join(projectId: string): Promise<void>;
  abstract leave(projectId: string): void;
  abstract onEnvelope(handler: EnvelopeHandler): void;
}
