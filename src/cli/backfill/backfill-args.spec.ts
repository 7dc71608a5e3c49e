import { BACKFILL_USAGE, DEFAULT_TARGET, parseBackfillArgs } from './backfill-args';

describe('parseBackfillArgs', () => {
  it('reads a file source with the defaults', () => {
    const r = parseBackfillArgs(['--file', 'events.jsonl', '--ingest-token', 'tok']);
    expect(r).toEqual({
      ok: true,
      options: {
        source: { kind: 'file', path: 'events.jsonl' },
        target: DEFAULT_TARGET,
        ingestToken: 'tok',
        batch: 200,
        concurrency: 4,
        messages: 300,
        retries: 6,
        timeoutMs: 30_000,
        dryRun: false,
      },
    });
  });

  it('reads an API source; the token is taken with or without "JWT "', () => {
    for (const token of ['JWT abc.def.ghi', 'abc.def.ghi', 'jwt%20abc.def.ghi']) {
      const r = parseBackfillArgs(['--api', 'https://tiledesk.example/api/', '--token', token, '--ingest-token', 't']);
      expect(r.ok && r.options.source).toEqual({ kind: 'api', url: 'https://tiledesk.example/api', token: 'abc.def.ghi' });
    }
  });

  it('takes TILEDESK_API_URL, TILEDESK_TOKEN and INGEST_TOKEN from the environment, flags winning', () => {
    const env = { TILEDESK_API_URL: 'http://td:3000', TILEDESK_TOKEN: 'JWT e.n.v', INGEST_TOKEN: 'from-env' };
    const r = parseBackfillArgs([], env);
    expect(r.ok && r.options.source).toEqual({ kind: 'api', url: 'http://td:3000', token: 'e.n.v' });
    expect(r.ok && r.options.ingestToken).toBe('from-env');
    const f = parseBackfillArgs(['--file', 'x.jsonl', '--ingest-token', 'flag'], env);
    expect(f.ok && f.options.source).toEqual({ kind: 'file', path: 'x.jsonl' });
    expect(f.ok && f.options.ingestToken).toBe('flag');
  });

  it('reads every option', () => {
    const r = parseBackfillArgs([
      '--file',
      'a.jsonl',
      '--target',
      'http://rt:8080/',
      '--batch',
      '500',
      '--concurrency',
      '8',
      '--messages',
      '0',
      '--retries',
      '0',
      '--timeout',
      '5',
      '--dry-run',
    ]);
    expect(r).toEqual({
      ok: true,
      options: expect.objectContaining({
        target: 'http://rt:8080',
        batch: 500,
        concurrency: 8,
        messages: 0,
        retries: 0,
        timeoutMs: 5000,
        dryRun: true,
        ingestToken: '',
      }),
    });
  });

  it('refuses a missing or double source, a missing token, bad numbers and URLs, listing every problem', () => {
    const none = parseBackfillArgs([]);
    expect(none).toEqual({ ok: false, help: false, message: expect.stringContaining('a source is required') });
    expect(!none.ok && none.message).toContain('--ingest-token is required');

    const both = parseBackfillArgs(['--file', 'a', '--api', 'http://x', '--ingest-token', 't']);
    expect(!both.ok && both.message).toContain('give one source, not both');

    const noToken = parseBackfillArgs(['--api', 'http://x', '--ingest-token', 't']);
    expect(!noToken.ok && noToken.message).toContain('--token is required with --api');

    const bad = parseBackfillArgs([
      '--file',
      'a',
      '--ingest-token',
      't',
      '--batch',
      '501',
      '--concurrency',
      '0',
      '--messages=-1',
      '--timeout',
      'soon',
      '--target',
      'ws://x',
    ]);
    expect(bad.ok).toBe(false);
    const message = !bad.ok ? bad.message : '';
    expect(message).toContain('--batch "501": an integer from 1 to 500');
    expect(message).toContain('--concurrency "0"');
    expect(message).toContain('--messages "-1"');
    expect(message).toContain('--timeout "soon"');
    expect(message).toContain('--target "ws://x": must start with http:// or https://');

    expect(parseBackfillArgs(['--api', 'not a url', '--token', 't', '--ingest-token', 't'])).toEqual({
      ok: false,
      help: false,
      message: '--api "not a url": not a URL',
    });
    expect(parseBackfillArgs(['--file', 'a', '--token', 't', '--ingest-token', 't']).ok).toBe(false);
  });

  it('refuses unknown flags and answers --help with the usage', () => {
    expect(parseBackfillArgs(['--file', 'a', '--frobnicate'])).toEqual({
      ok: false,
      help: false,
      message: expect.stringContaining('frobnicate'),
    });
    expect(parseBackfillArgs(['-h'])).toEqual({ ok: false, help: true, message: BACKFILL_USAGE });
  });

  it('says in its help that a re-run is safe and is the reload after an emptied Redis', () => {
    expect(BACKFILL_USAGE).toContain('Safe to re-run');
    expect(BACKFILL_USAGE).toContain('reload procedure after a Redis that came back empty');
  });
});
