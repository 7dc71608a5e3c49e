import { progressLine } from './backfill-progress';
import { formatSummary, PROBLEMS_SHOWN, SummaryCounter } from './backfill-summary';

describe('SummaryCounter and formatSummary', () => {
  it('counts per type in the bootstrap order, with totals and the elapsed time', () => {
    const c = new SummaryCounter(false);
    for (const t of ['message.create', 'message.create', 'project.update', 'request.update', 'event.emit']) c.read(t);
    c.applied('project.update', 1, { accepted: 1, duplicates: 0, stale: 0 });
    c.applied('request.update', 1, { accepted: 0, duplicates: 0, stale: 1 });
    c.applied('message.create', 1, { accepted: 0, duplicates: 1, stale: 0 });
    c.failed('message.create', 1, 'line 4: message.create: data.recipient: required');
    c.applied('event.emit', 1, { accepted: 1, duplicates: 0, stale: 0 });
    expect(c.ok).toBe(false);
    const s = c.summary(2345);
    expect(Object.keys(s.byType)).toEqual(['project.update', 'request.update', 'message.create', 'event.emit']);
    expect(s.total).toEqual({ read: 5, sent: 4, accepted: 2, duplicates: 1, stale: 1, failed: 1 });
    expect(formatSummary(s, 'events.jsonl', 'http://rt:3000')).toBe(
      [
        'backfill done in 2.3 s: from events.jsonl to http://rt:3000',
        '  type            read  sent  accepted  duplicates  stale  failed',
        '  project.update     1     1         1           0      0       0',
        '  request.update     1     1         0           0      1       0',
        '  message.create     2     1         0           1      0       1',
        '  event.emit         1     1         1           0      0       0',
        '  total              5     4         2           1      1       1',
        'problems:',
        '  line 4: message.create: data.recipient: required',
      ].join('\n'),
    );
  });

  it('is ok only with nothing failed, no read lost and no stop', () => {
    const c = new SummaryCounter(false);
    c.read('faqbot.update');
    c.applied('faqbot.update', 1, { accepted: 0, duplicates: 1, stale: 0 });
    expect(c.ok).toBe(true);
    c.readFailed('GET http://td/p/faq_kb: HTTP 403');
    expect(c.ok).toBe(false);
    const d = new SummaryCounter(false);
    d.stopped('cannot reach the realtime service at http://rt/v1/events: connection refused (ECONNREFUSED) (after 7 attempts)');
    expect(d.ok).toBe(false);
    const text = formatSummary(d.summary(10), 'http://td', 'http://rt');
    expect(text).toMatch(/^backfill stopped in 0\.0 s/);
    expect(text).toContain('stopped: cannot reach the realtime service at http://rt/v1/events');
  });

  it('shows a dry run without the sending columns, and lists only the first problems', () => {
    const c = new SummaryCounter(true);
    for (let i = 0; i < PROBLEMS_SHOWN + 5; i++) {
      c.read('(unreadable)');
      c.failed('(unreadable)', 1, `line ${i + 1}: not JSON`);
    }
    c.readFailed('GET http://td/p/faq_kb: HTTP 500');
    const text = formatSummary(c.summary(0), 'events.jsonl', 'http://rt');
    expect(text.split('\n').slice(0, 4)).toEqual([
      'backfill dry run done in 0.0 s: from events.jsonl (nothing sent)',
      '  type          read  failed',
      '  (unreadable)    25      25',
      '  total           25      25',
    ]);
    expect(text).toContain('reads failed: 1');
    expect(text).toContain(`problems (first ${PROBLEMS_SHOWN} of 26):`);
    expect(text).not.toContain('line 21: not JSON');
  });

  it('writes one progress line', () => {
    const t = { read: 10, sent: 8, accepted: 5, duplicates: 2, stale: 1, failed: 1 };
    expect(progressLine(t, false, 12_400)).toBe('backfill: read 10, sent 8 (accepted 5, duplicates 2, stale 1), failed 1 (12 s)');
    expect(progressLine(t, true, 0)).toBe('backfill: read 10, failed 1 (0 s)');
  });
});
