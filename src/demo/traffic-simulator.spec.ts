import { validateEnvelope } from '../ingest/event-validation';
import { parseTopic } from '../protocol/topic-grammar';
import { MemoryReadModel } from '../store/memory/memory-read-model';
import { IngestEnvelope } from './tiledesk-documents';
import { TrafficSimulator } from './traffic-simulator';

const T0 = Date.parse('2026-11-25T09:00:00.000Z');

function run(seed: string, steps: number): { sim: TrafficSimulator; envelopes: IngestEnvelope[] } {
  const sim = new TrafficSimulator({ seed, now: () => T0 });
  const envelopes = sim.setup();
  for (let i = 0; i < steps; i++) envelopes.push(...sim.step());
  return { sim, envelopes };
}

function memoryStore(): MemoryReadModel {
  return new MemoryReadModel({
    history: { requests: 100, messages: 300, events: 20 },
    closedRequestTtlS: 86_400,
    eventsTtlS: 3600,
    dedupeTtlS: 3600,
    now: () => T0,
  });
}

describe('TrafficSimulator', () => {
  it('tells the same story for the same seed, and another one for another seed', () => {
    const a = run('seed-a', 300).envelopes;
    const b = run('seed-a', 300).envelopes;
    const c = run('seed-b', 300).envelopes;
    expect(JSON.stringify(b)).toEqual(JSON.stringify(a));
    expect(JSON.stringify(c)).not.toEqual(JSON.stringify(a));
  });

  it('produces envelopes the service accepts, every update newer than the stored document', async () => {
    const { sim, envelopes } = run('accepted', 3000);
    const store = memoryStore();
    const outcomes: Record<string, number> = {};
    for (const [i, raw] of envelopes.entries()) {
      const validated = validateEnvelope(raw, i, { maxEventBytes: 262_144 });
      const r = await store.apply(validated.event, T0);
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    }
    expect(outcomes).toEqual({ applied: envelopes.length });
    // What an owner's /requests snapshot shows is what the simulator holds open.
    const topic = parseTopic(`/${sim.project.id}/requests`)!;
    const read = await store.readForSubscribe(topic, sim.owner.userId);
    expect(read.requests?.length).toBe(sim.summary().open);
  });

  it('uses every kind of event the demo promises', () => {
    const types = new Set(run('kinds', 3000).envelopes.map((e) => e.type));
    expect([...types].sort()).toEqual([
      'event.emit',
      'faqbot.update',
      'message.create',
      'message.update',
      'project.update',
      'project_user.create',
      'project_user.update',
      'request.create',
      'request.update',
    ]);
  });

  it('keeps number_assigned_requests equal to the open requests an agent holds, within its chat limit', () => {
    const { sim, envelopes } = run('capacity', 3000);
    const requests = new Map<string, Record<string, unknown>>();
    const members = new Map<string, Record<string, unknown>>();
    const agentByPu = new Map(sim.agents.map((a) => [a.projectUserId, a]));
    for (const e of envelopes) {
      if (e.type.startsWith('request.')) requests.set(e.data.request_id as string, e.data);
      if (e.type.startsWith('project_user.')) {
        members.set(e.data._id as string, e.data);
        const agent = agentByPu.get(e.data._id as string);
        if (agent) expect(e.data.number_assigned_requests).toBeLessThanOrEqual(sim.capacityOf(agent));
      }
    }
    const open = [...requests.values()].filter((r) => r.status === 100 || r.status === 200);
    let held = 0;
    for (const agent of sim.agents) {
      const holding = open.filter((r) => (r.participants as string[]).includes(agent.userId)).length;
      expect(members.get(agent.projectUserId)?.number_assigned_requests).toBe(holding);
      held += holding;
    }
    expect(held).toBeGreaterThan(0);
    expect(sim.summary().closed).toBeGreaterThan(0);
  });

  it('has arrival bursts: more requests open at once during a rush than the calm before it ever holds', () => {
    const sim = new TrafficSimulator({ seed: 'bursts' });
    sim.setup();
    let calm = 0;
    let rush = 0;
    let bursts = 0;
    let wasBurst = false;
    for (let i = 0; i < 1800; i++) {
      sim.step();
      const open = sim.summary().open;
      if (sim.inBurst()) rush = Math.max(rush, open);
      else if (bursts === 0) calm = Math.max(calm, open);
      if (sim.inBurst() && !wasBurst) bursts++;
      wasBurst = sim.inBurst();
    }
    expect(bursts).toBe(3);
    expect(calm).toBeLessThanOrEqual(24);
    expect(rush).toBeGreaterThan(24);
  });
});
