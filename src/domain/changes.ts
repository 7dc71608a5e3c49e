import { BotDoc, EventDoc, MessageDoc, ProjectDoc, RequestDoc, RequestStub, WireProjectUser } from './documents';

/**
 * What one applied event changed, as the bus carries it to every replica. It holds everything the
 * delivering replica needs to decide who receives what (previous and new state), so delivery never
 * goes back to the store per recipient.
 */
export type Change =
  | { type: 'request'; prev: RequestDoc | null; next: RequestDoc }
  | { type: 'request_removed'; prev: RequestDoc }
  | { type: 'message'; method: 'CREATE' | 'UPDATE'; message: MessageDoc }
  | {
      type: 'project_user';
      prev: WireProjectUser | null;
      /** null when the project_user was deleted. */
      next: WireProjectUser | null;
      /** Present when the member's request scope changed and it is still a member: its new T1 view. */
      view?: { removed: RequestStub[]; snapshot: RequestDoc[] };
    }
  | { type: 'project'; prev: ProjectDoc | null; next: ProjectDoc; busyChanged: WireProjectUser[] }
  | { type: 'event'; event: EventDoc }
  | { type: 'bot'; bot: BotDoc };

export interface Envelope {
  projectId: string;
  /** Per-project sequence number of the applied event: increases by one for every applied event. */
  seq: number;
  /** When ingest accepted the event (epoch ms), for end-to-end latency. */
  acceptedAt: number;
  change: Change;
}
