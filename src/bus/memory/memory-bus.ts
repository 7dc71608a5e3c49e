import { Envelope } from '../../domain/changes';
import { Bus, EnvelopeHandler } from '../bus';

/** One process: envelopes of joined projects are handed to the handlers synchronously, in publish order. */
export class MemoryBus extends Bus {
  private readonly joined = new Map<string, number>();
  private readonly handlers: EnvelopeHandler[] = [];

  /** In-process: nothing to lose. */
  get connected(): boolean {
    return true;
  }

  publish(envelope: Envelope): Promise<void> {
    if (this.joined.has(envelope.projectId)) for (const h of this.handlers) h(envelope);
    return Promise.resolve();
  }

  join(projectId: string): Promise<void> {
    this.joined.set(projectId, (this.joined.get(projectId) ?? 0) + 1);
    return Promise.resolve();
  }

  leave(projectId: string): void {
    const n = (this.joined.get(projectId) ?? 0) - 1;
    if (n > 0) this.joined.set(projectId, n);
    else this.joined.delete(projectId);
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.handlers.push(handler);
  }
}
