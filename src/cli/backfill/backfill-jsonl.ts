import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { checkEnvelope, FatalError, SourceItem, UNREADABLE } from './backfill-envelope';

/**
 * The `--file` source: JSON Lines of envelopes, read as a stream (a file of millions of messages is never
 * held in memory) and yielded in file order. Blank lines are skipped; a line that is not JSON, or not an
 * envelope the service accepts, is yielded as a problem naming its line number.
 */

/** One line (1-based `lineNo`); null for a blank line. */
export function parseJsonlLine(line: string, lineNo: number, file = ''): SourceItem | null {
  const text = line.trim();
  if (text === '') return null;
  const origin = `${file ? `${file}:` : 'line '}${lineNo}`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, type: UNREADABLE, origin, problem: `${origin}: not JSON (${why})` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, type: UNREADABLE, origin, problem: `${origin}: not an envelope object {"type", "data", "id"?}` };
  }
  return checkEnvelope(raw, origin);
}

/** Thrown when the file itself cannot be read (missing, a directory, no permission). */
export class SourceFileError extends FatalError {
  constructor(path: string, reason: string) {
    super(`cannot read ${path}: ${reason}`);
    this.name = 'SourceFileError';
  }
}

export async function* readJsonlFile(path: string): AsyncGenerator<SourceItem> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  // Opening errors (ENOENT, EISDIR, EACCES) surface on the first read; keep them as a clean message.
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('ready', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) => reject(new SourceFileError(path, err.code ?? err.message)));
  });
  await opened;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      const item = parseJsonlLine(line, lineNo, path);
      if (item) yield item;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SourceFileError(path, e.code ?? e.message);
  } finally {
    lines.close();
    stream.destroy();
  }
}
