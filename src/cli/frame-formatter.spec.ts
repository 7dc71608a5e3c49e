import { formatFrame } from './frame-formatter';

const at = new Date(2026, 10, 25, 9, 5, 7, 42);

describe('formatFrame', () => {
  it('prints a request update as time, topic, method, request id, status, participants and agents', () => {
    const raw = JSON.stringify({
      action: 'publish',
      payload: {
        topic: '/p1/requests',
        method: 'UPDATE',
        message: { _id: 'o1', id: 'o1', request_id: 'r1', status: 200, participants: ['u1'], snapshot: { agents: [{ id_user: 'u1' }] } },
      },
    });
    expect(formatFrame(raw, { at })).toBe('09:05:07.042 /p1/requests UPDATE request r1 status 200 participants 1 [u1] agents 1 [u1]');
  });

  it('prints a snapshot array as a count and its ids, long ids by their tail, at most five', () => {
    const message = Array.from({ length: 7 }, (_, i) => ({
      request_id: `support-group-p1-0000000000000000000000000000000${i}`,
      status: 100,
    }));
    const line = formatFrame({ action: 'publish', payload: { topic: '/p1/requests', method: 'CREATE', message } }, { at });
    expect(line).toBe(
      '09:05:07.042 /p1/requests CREATE 7 requests […000000000000(100), …000000000001(100), …000000000002(100), …000000000003(100), …000000000004(100), +2 more]',
    );
  });

  it('summarizes messages, project users, events, bots and removals by their topic', () => {
    const line = (topic: string, method: string, message: unknown) =>
      formatFrame({ action: 'publish', payload: { topic, method, message } }, { at })!.slice(13);
    expect(line('/p1/requests/r1/messages', 'CREATE', { _id: 'm1', status: 100, senderFullname: 'Anna Rossi', text: 'Hi' })).toBe(
      '/p1/requests/r1/messages CREATE message m1 status 100 from Anna Rossi: "Hi"',
    );
    expect(
      line('/p1/project_users/users/u1', 'UPDATE', {
        _id: 'pu1',
        id_user: { _id: 'u1' },
        role: 'agent',
        user_available: false,
        profileStatus: 'away',
        isBusy: true,
        number_assigned_requests: 3,
      }),
    ).toBe('/p1/project_users/users/u1 UPDATE project_user pu1 user u1 agent available false (away) busy true assigned 3');
    expect(line('/p1/events/pu1', 'CREATE', [{ _id: 'e1', name: 'typing' }])).toBe('/p1/events/pu1 CREATE 1 events [typing:e1]');
    expect(line('/p1/bots/b1', 'UPDATE', { _id: 'b1', name: 'Bot', trained: true })).toBe('/p1/bots/b1 UPDATE bot b1 "Bot" trained true');
    expect(line('/p1/requests', 'DELETE', { _id: 'o1', id: 'o1', request_id: 'r1' })).toBe('/p1/requests DELETE request r1 removed');
    expect(line('/p1/bots/b2', 'CREATE', null)).toBe('/p1/bots/b2 CREATE null');
  });

  it('makes error frames stand out with their code', () => {
    const raw = JSON.stringify({
      action: 'error',
      payload: { topic: '/p1/requests', code: 'forbidden', message: 'not an active member of this project' },
    });
    expect(formatFrame(raw, { at })).toBe('09:05:07.042 /p1/requests ERROR forbidden: not an active member of this project');
  });

  it('skips heartbeats unless asked, and prints the raw frame with json', () => {
    const ping = JSON.stringify({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    expect(formatFrame(ping, { at })).toBeNull();
    expect(formatFrame(ping, { at, heartbeats: true })).toBe('09:05:07.042 heartbeat ping');
    const raw = JSON.stringify({ action: 'publish', payload: { topic: '/p1/bots/b1', method: 'UPDATE', message: { _id: 'b1' } } });
    expect(formatFrame(raw, { at, json: true })).toBe(raw);
  });

  it('does not throw on frames it does not understand', () => {
    expect(formatFrame('not json', { at })).toBe('09:05:07.042 (not JSON) not json');
    expect(formatFrame('[1,2]', { at })).toBe('09:05:07.042 (unexpected) [1,2]');
    expect(formatFrame(JSON.stringify({ action: 'me', payload: { id: 'c1', userId: 'u1' } }), { at })).toBe(
      '09:05:07.042 me connection c1 user u1',
    );
  });
});
