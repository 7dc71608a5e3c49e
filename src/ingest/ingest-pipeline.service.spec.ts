import { MemoryBus } from '../bus/memory/memory-bus';
import { Envelope } from '../domain/changes';
import { DomainEvent } from '../domain/domain-events';
import { MemoryReadModel } from '../store/memory/memory-read-model';
import { ApplyOutcome } from '../store/read-model';
import { EngineUnavailableError } from '../store/redis/redis-read-model';
import { loadConfig } from '../config/app-config';
import * as f from '../../test/helpers/factories';
import { IngestPipeline } from './ingest-pipeline.service';

const STORE_OPTIONS = { history: { requests: 100, messages: 300, events: 20 }, closedRequestTtlS: 60, eventsTtlS: 3600, dedupeTtlS: 60 };

/** A memory store that can be told to fail the apply of one request, and records how applies overlap. */
class ProbeStore extends MemoryReadModel {
  failRequestId: string | null = null;
  running = 0;
  maxRunning = 0;
  override async apply(event: DomainEvent, acceptedAt: number): Promise<ApplyOutcome> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise((resolve) => setImmediate(resolve)); // an apply takes a round trip
      if (event.type === 'request.upsert' && event.data.request_id === this.failRequestId) {
        throw new EngineUnavailableError(new Error('redis went away'));
      }
      return await super.apply(event, acceptedAt);
    } finally {
      this.running--;
    }
  }
}

function setup() {
  const store = new ProbeStore(STORE_OPTIONS);
  const bus = new MemoryBus();
  const published: Envelope[] = [];
  bus.onEnvelope((e) => published.push(e));
  for (const p of ['pa', 'pb']) void bus.join(p);
  const pipeline = new IngestPipeline(store, bus, loadConfig({ GLOBAL_SECRET: 'a-shared-secret' }));
  const ingest = (batch: unknown[]) => pipeline.ingest(pipeline.validate(batch));
  return { store, published, ingest };
}

/** Versions of one request, each newer than the last. */
function versions(projectId: string, rid: string, n: number) {
  const first = f.request(projectId, rid);
  return Array.from({ length: n }, (_, i) =>
    i === 0 ? { type: 'request.create', data: first } : { type: 'request.update', data: { ...first, updatedAt: f.nextTime(), __v: i } },
  );
}

describe('IngestPipeline.ingest', () => {
  it('applies the events of different projects concurrently, each project in batch order', async () => {
    const { store, published, ingest } = setup();
    const a = versions('pa', 'ra', 4);
    const b = versions('pb', 'rb', 4);
    const batch = a.flatMap((e, i) => [e, b[i]!]);
    await expect(ingest(batch)).resolves.toEqual({ accepted: 8, duplicates: 0, stale: 0 });
    expect(store.maxRunning).toBe(2);
    for (const p of ['pa', 'pb']) {
      const seqs = published.filter((e) => e.projectId === p).map((e) => e.seq);
      expect(seqs).toEqual([1, 2, 3, 4]);
    }
  });

  it('counts duplicates and stale events as before', async () => {
    const { ingest } = setup();
    const [create, update] = versions('pa', 'ra', 2);
    await expect(ingest([create, update, update, create])).resolves.toEqual({ accepted: 2, duplicates: 1, stale: 1 });
  });

  it('after a failed apply, skips the later events of that project, applies the other projects, then throws', async () => {
    const { store, published, ingest } = setup();
    store.failRequestId = 'ra2';
    const batch = [versions('pa', 'ra1', 1)[0], versions('pa', 'ra2', 1)[0], versions('pa', 'ra3', 1)[0], ...versions('pb', 'rb', 3)];
    await expect(ingest(batch)).rejects.toBeInstanceOf(EngineUnavailableError);
    const applied = published.map((e) => `${e.projectId}:${e.seq}`);
    expect(applied).toEqual(expect.arrayContaining(['pa:1', 'pb:1', 'pb:2', 'pb:3']));
    expect(applied).toHaveLength(4); // ra3 was not applied after ra2 failed
    // The client retries the whole batch once the engine is back: nothing lost, nothing applied twice.
    store.failRequestId = null;
    // ra2 and ra3 are applied now; ra1 and pb's last version are duplicates, pb's older versions stale.
    await expect(ingest(batch)).resolves.toEqual({ accepted: 2, duplicates: 2, stale: 2 });
    expect(published.filter((e) => e.projectId === 'pa').map((e) => e.seq)).toEqual([1, 2, 3]);
  });
});
