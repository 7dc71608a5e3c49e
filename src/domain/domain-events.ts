import { BotDoc, EventDoc, MessageDoc, ProjectDoc, ProjectUserDoc, RequestDoc } from './documents';

/**
 * A validated, normalized ingest event: aliases resolved, Tiledesk envelopes unwrapped, request payloads
 * already in their wire shape. Create and update of the same document are one upsert: staleness decides.
 */
export type DomainEvent =
  | { type: 'project.update'; projectId: string; data: ProjectDoc }
  | { type: 'project_user.upsert'; projectId: string; data: ProjectUserDoc }
  | { type: 'project_user.delete'; projectId: string; projectUserId: string }
  | { type: 'request.upsert'; projectId: string; data: RequestDoc }
  | { type: 'request.delete'; projectId: string; requestId?: string; oid?: string }
  | { type: 'message.upsert'; projectId: string; data: MessageDoc }
  | { type: 'event.emit'; projectId: string; data: EventDoc }
  | { type: 'bot.upsert'; projectId: string; data: BotDoc };
