import { IngestValidationError, TYPE_ALIASES, validateEnvelope } from '../../ingest/event-validation';

/** An ingest envelope (ingest.md §1) as the backfill sends it. */
export interface Envelope {
  type: string;
  data: Record<string, unknown>;
  id?: string;
}

/** What a source yields: an envelope the service will accept, or a problem to report and count. */
export type SourceItem =
  | { ok: true; envelope: Envelope; type: string; origin: string }
  | {
      ok: false;
      type: string;
      origin: string;
      problem: string;
      /** A read that failed (a Tiledesk URL), rather than one event that was refused: its events are unknown. */
      readFailure?: boolean;
    };

/** The per-type bucket of things that are not even an envelope (a line that is not JSON). */
export const UNREADABLE = '(unreadable)';

/** The order of ingest.md §3, by canonical type; other types follow, in their source order. */
export const BOOTSTRAP_ORDER = ['project.update', 'project_user.update', 'request.update', 'message.create', 'faqbot.update'] as const;

/** The canonical name of a type (the Tiledesk routing keys `request_update`, ... are aliases). */
export function canonicalType(type: string): string {
  return TYPE_ALIASES[type] ?? type;
}

/**
 * Checks an envelope with the service's own validator, so that a bad one is reported here with where it
 * came from (a line number, a Tiledesk URL) instead of making the service refuse a whole batch. The size
 * limit is left to the service (its INGEST_MAX_EVENT_BYTES is not known here; a 413 names the event).
 */
export function checkEnvelope(raw: unknown, origin: string): SourceItem {
  const type = typeof (raw as { type?: unknown } | null)?.type === 'string' ? canonicalType((raw as { type: string }).type) : UNREADABLE;
  try {
    validateEnvelope(raw, 0, { maxEventBytes: Number.POSITIVE_INFINITY });
  } catch (err) {
    if (err instanceof IngestValidationError) {
      // "event 0 (request.update): data.request_id: required" → "data.request_id: required"
      const reason = err.message.replace(/^event \d+( \([^)]*\))?: /, '');
      return { ok: false, type, origin, problem: `${origin}: ${type === UNREADABLE ? '' : `${type}: `}${reason}` };
    }
    throw err;
  }
  const env = raw as Envelope;
  return { ok: true, envelope: env, type, origin };
}

/** Ends the run: the message is for the operator (it names the URL or file), no stack trace. */
export class FatalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalError';
  }
}
