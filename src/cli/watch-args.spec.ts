import { DEFAULT_WATCH_URL, parseWatchArgs } from './watch-args';

describe('parseWatchArgs', () => {
  it('takes repeated topics, the token without its JWT prefix, and defaults', () => {
    expect(parseWatchArgs(['--topic', '/p/requests', '-t', '/p/bots/b', '--token', 'JWT abc.def.ghi'])).toEqual({
      ok: true,
      options: { topics: ['/p/requests', '/p/bots/b'], token: 'abc.def.ghi', url: DEFAULT_WATCH_URL, json: false, once: false },
    });
    const r = parseWatchArgs(['--topic', '/p/requests', '--token', 't', '--url', 'wss://rt.example.test/ws', '--json', '--once']);
    expect(r).toMatchObject({ ok: true, options: { url: 'wss://rt.example.test/ws', json: true, once: true } });
  });

  it('lists every problem at once', () => {
    const r = parseWatchArgs(['--topic', 'p/requests', '--url', 'http://localhost:3000/']);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message.split('\n')).toEqual([
      '--topic "p/requests": a topic starts with /',
      '--token is required (a user JWT)',
      '--url "http://localhost:3000/": must start with ws:// or wss://',
    ]);
  });

  it('refuses unknown options and answers --help with the usage', () => {
    expect(parseWatchArgs(['--topik', '/p/requests'])).toMatchObject({ ok: false, help: false });
    expect(parseWatchArgs(['--help'])).toMatchObject({ ok: false, help: true, message: expect.stringContaining('--topic') });
  });
});
