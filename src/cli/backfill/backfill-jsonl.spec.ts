import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceItem, UNREADABLE } from './backfill-envelope';
import { parseJsonlLine, readJsonlFile, SourceFileError } from './backfill-jsonl';

const request = { _id: 'r1', request_id: 'support-group-p1-1', id_project: 'p1', status: 200 };

describe('parseJsonlLine', () => {
  it('skips blank lines', () => {
    expect(parseJsonlLine('', 1)).toBeNull();
    expect(parseJsonlLine('   \t', 2)).toBeNull();
  });

  it('accepts an envelope the service accepts, under its canonical type', () => {
    expect(parseJsonlLine(JSON.stringify({ type: 'request_update', data: request, id: 'e1' }), 3)).toEqual({
      ok: true,
      type: 'request.update',
      origin: 'line 3',
      envelope: { type: 'request_update', data: request, id: 'e1' },
    });
  });

  it('names the line (and the file) of a line that is not JSON, or not an envelope', () => {
    expect(parseJsonlLine('{"type": ', 7, 'events.jsonl')).toEqual({
      ok: false,
      type: UNREADABLE,
      origin: 'events.jsonl:7',
      problem: expect.stringMatching(/^events\.jsonl:7: not JSON/),
    });
    expect(parseJsonlLine('[1,2]', 8)).toEqual(
      expect.objectContaining({ ok: false, problem: expect.stringContaining('line 8: not an envelope') }),
    );
  });

  it('names the line, the type and the field of an envelope the service would refuse', () => {
    const noRequestId: Record<string, unknown> = { ...request };
    delete noRequestId.request_id;
    expect(parseJsonlLine(JSON.stringify({ type: 'request.update', data: noRequestId }), 12)).toEqual({
      ok: false,
      type: 'request.update',
      origin: 'line 12',
      problem: 'line 12: request.update: data.request_id: required',
    });
    expect(parseJsonlLine(JSON.stringify({ type: 'request.frobnicate', data: request }), 13)).toEqual(
      expect.objectContaining({ ok: false, type: 'request.frobnicate', problem: expect.stringContaining('unknown type') }),
    );
  });
});

describe('readJsonlFile', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'backfill-jsonl-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function all(path: string): Promise<SourceItem[]> {
    const out: SourceItem[] = [];
    for await (const item of readJsonlFile(path)) out.push(item);
    return out;
  }

  it('yields the lines in file order with their line numbers (CRLF too)', async () => {
    const path = join(dir, 'events.jsonl');
    const project = { type: 'project.update', data: { _id: 'p1', status: 100 } };
    writeFileSync(path, `${JSON.stringify(project)}\r\n\r\nnope\r\n${JSON.stringify({ type: 'request.update', data: request })}`);
    const items = await all(path);
    expect(items.map((i) => [i.ok, i.type, i.origin])).toEqual([
      [true, 'project.update', `${path}:1`],
      [false, UNREADABLE, `${path}:3`],
      [true, 'request.update', `${path}:4`],
    ]);
  });

  it('fails with a clear error for a file that cannot be read', async () => {
    const missing = join(dir, 'missing.jsonl');
    await expect(all(missing)).rejects.toThrow(new SourceFileError(missing, 'ENOENT'));
    await expect(all(dir)).rejects.toThrow(`cannot read ${dir}: EISDIR`);
  });
});
