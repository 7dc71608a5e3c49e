import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '../../test/helpers/wait-for';
import { Envelope } from '../domain/changes';
import { Bus } from './bus';

/**
 * The behaviour every Bus implementation must show (STYLE.md habit 3): the memory bus runs it in its unit spec,
 * the Redis bus against a real redis-server and a real cluster.
 *
 * Absence is proven without sleeping: an envelope that must not arrive is published before a marker envelope of a
 * joined project, from the same bus, and the check runs once the marker has arrived. That relies on a subscriber
 * receiving one publisher's envelopes in publish order across the projects of one test, which a single Redis
 * keeps; a cluster keeps it only within a shard, so a cluster setup supplies project ids that share one slot.
 */

export interface BusFixture {
  bus: Bus;
  close(): Promise<void>;
}

export interface BusPairFixture {
  /** Two replicas' buses on one backend. */
  a: Bus;
  b: Bus;
  close(): Promise<void>;
}

export interface BusContractSetup {
  /** One replica's bus, on a fresh connection to the backend. */
  single: () => Promise<BusFixture>;
  /** Two replicas on one backend. Absent for an in-process bus, which has no second replica to reach. */
  pair?: () => Promise<BusPairFixture>;
  /** `count` distinct project ids built from `base` (default `<base>-<i>`); see the note on absence above. */
  projectIds?: (base: string, count: number) => string[];
}

/** Records what one replica's handler receives. */
class Received {
  readonly envelopes: Envelope[] = [];

  constructor(bus: Bus) {
    bus.onEnvelope((e) => this.envelopes.push(e));
  }

  seqs(projectId: string): number[] {
    return this.envelopes.filter((e) => e.projectId === projectId).map((e) => e.seq);
  }

  async until(projectId: string, seq: number): Promise<void> {
    await waitFor(() => this.envelopes.some((e) => e.projectId === projectId && e.seq === seq), {
      what: `envelope ${projectId}#${seq}`,
      timeoutMs: 5000,
    });
  }
}

export function envelope(projectId: string, seq: number): Envelope {
  return {
    projectId,
    seq,
    acceptedAt: Date.now(),
    change: { type: 'event', event: { _id: `e-${projectId}-${seq}`, id_project: projectId, name: 'contract', project_user: 'pu-1' } },
  };
}

let testCounter = 0;

export function describeBusContract(name: string, setup: BusContractSetup): void {
  const projectIds = (count: number): string[] => {
    testCounter += 1;
    const base = `b${process.pid.toString(36)}${Date.now().toString(36)}${testCounter}`;
    return setup.projectIds ? setup.projectIds(base, count) : Array.from({ length: count }, (_, i) => `${base}-${i}`);
  };

  describe(`Bus contract: ${name}`, () => {
    describe('one replica', () => {
      let fixture: BusFixture;
      let bus: Bus;
      let got: Received;

      beforeEach(async () => {
        fixture = await setup.single();
        bus = fixture.bus;
        got = new Received(bus);
      });

      afterEach(async () => {
        await fixture.close();
      });

      it('reports itself connected', async () => {
        await waitFor(() => bus.connected, { what: 'connected' });
        expect(bus.connected).toBe(true);
      });

      it('delivers a joined project and nothing published before the join or for projects never joined', async () => {
        const [p, q] = projectIds(2) as [string, string];
        await bus.publish(envelope(p, 1)); // before the join
        await bus.publish(envelope(q, 1));
        await bus.join(p);
        await bus.publish(envelope(q, 2));
        await bus.publish(envelope(p, 2));
        await got.until(p, 2);
        expect(got.seqs(p)).toEqual([2]);
        expect(got.seqs(q)).toEqual([]);
      });

      it('delivers an envelope published as soon as join() resolved', async () => {
        for (const p of projectIds(10)) {
          await bus.join(p);
          await bus.publish(envelope(p, 1));
          await got.until(p, 1);
        }
        expect(got.envelopes).toHaveLength(10);
      });

      it('hands each envelope once to every handler, however many joins the project has', async () => {
        const second = new Received(bus);
        const [p] = projectIds(1) as [string];
        await Promise.all([bus.join(p), bus.join(p), bus.join(p)]);
        await bus.join(p);
        const first = envelope(p, 1);
        await bus.publish(first);
        await bus.publish(envelope(p, 2));
        await got.until(p, 2);
        await second.until(p, 2);
        expect(got.seqs(p)).toEqual([1, 2]);
        expect(second.seqs(p)).toEqual([1, 2]);
        expect(got.envelopes[0]).toEqual(first);
      });

      it('keeps the publish order of a burst of 500 envelopes', async () => {
        const [p] = projectIds(1) as [string];
        await bus.join(p);
        const seqs = Array.from({ length: 500 }, (_, i) => i + 1);
        await Promise.all(seqs.map((seq) => bus.publish(envelope(p, seq))));
        await got.until(p, 500);
        expect(got.seqs(p)).toEqual(seqs);
      });

      it('stops delivering a project only after its last leave, and delivers again after a new join', async () => {
        const [p, marker] = projectIds(2) as [string, string];
        await bus.join(p);
        await bus.join(p);
        await bus.join(marker);
        bus.leave(p);
        await bus.publish(envelope(p, 1));
        await got.until(p, 1);

        bus.leave(p);
        await bus.publish(envelope(p, 2));
        await bus.publish(envelope(marker, 1));
        await got.until(marker, 1);
        expect(got.seqs(p)).toEqual([1]);

        await bus.join(p);
        await bus.publish(envelope(p, 3));
        await got.until(p, 3);
        expect(got.seqs(p)).toEqual([1, 3]);
      });

      it('ends joined when a join races a pending leave', async () => {
        const [p, q, barrier] = projectIds(3) as [string, string, string];
        await bus.join(p);
        bus.leave(p);
        await bus.join(p); // the unsubscribe of the leave may still be pending
        // A burst of joins and leaves that ends with one join outstanding.
        const joins = [bus.join(q)];
        bus.leave(q);
        joins.push(bus.join(q));
        bus.leave(q);
        joins.push(bus.join(q));
        await Promise.all(joins);
        // A backend that sends subscribe commands in order has carried out every earlier one once this join resolved.
        await bus.join(barrier);

        await bus.publish(envelope(p, 1));
        await got.until(p, 1);
        await bus.publish(envelope(q, 1));
        await got.until(q, 1);
        expect(got.seqs(p)).toEqual([1]);
        expect(got.seqs(q)).toEqual([1]);
      });

      it('ends left when a leave races a pending join', async () => {
        const [p, marker] = projectIds(2) as [string, string];
        await bus.join(marker);
        const joined = bus.join(p);
        bus.leave(p);
        await joined;
        await bus.publish(envelope(p, 1));
        await bus.publish(envelope(marker, 1));
        await got.until(marker, 1);
        expect(got.seqs(p)).toEqual([]);
      });
    });

    const pair = setup.pair;
    if (pair) {
      describe('two replicas', () => {
        let fixture: BusPairFixture;
        let gotA: Received;
        let gotB: Received;

        beforeEach(async () => {
          fixture = await pair();
          gotA = new Received(fixture.a);
          gotB = new Received(fixture.b);
        });

        afterEach(async () => {
          await fixture.close();
        });

        it('delivers an envelope published by either replica to both, once each', async () => {
          const { a, b } = fixture;
          const [p] = projectIds(1) as [string];
          await Promise.all([a.join(p), a.join(p), b.join(p)]);
          await a.publish(envelope(p, 1));
          await gotA.until(p, 1);
          await gotB.until(p, 1);
          await b.publish(envelope(p, 2));
          await gotA.until(p, 2);
          await gotB.until(p, 2);
          expect(gotA.seqs(p)).toEqual([1, 2]);
          expect(gotB.seqs(p)).toEqual([1, 2]);
        });

        it('delivers nothing of a project to the replica that has not joined it', async () => {
          const { a, b } = fixture;
          const [p, marker] = projectIds(2) as [string, string];
          await Promise.all([a.join(p), a.join(marker), b.join(marker)]);
          await b.publish(envelope(p, 1));
          await b.publish(envelope(marker, 1));
          await gotA.until(p, 1);
          await gotA.until(marker, 1);
          await gotB.until(marker, 1);
          expect(gotB.seqs(p)).toEqual([]);
          expect(gotA.seqs(marker)).toEqual([1]);
        });

        it('delivers what the other replica publishes as soon as join() resolved', async () => {
          const { a, b } = fixture;
          for (const p of projectIds(10)) {
            await b.join(p);
            await a.publish(envelope(p, 1));
            await gotB.until(p, 1);
          }
          expect(gotB.envelopes).toHaveLength(10);
          expect(gotA.envelopes).toHaveLength(0);
        });

        it('keeps one replica delivering after the other left', async () => {
          const { a, b } = fixture;
          const [p, marker] = projectIds(2) as [string, string];
          await Promise.all([a.join(p), a.join(marker), b.join(p)]);
          a.leave(p);
          await a.publish(envelope(p, 1));
          await a.publish(envelope(marker, 1));
          await gotB.until(p, 1);
          await gotA.until(marker, 1);
          expect(gotA.seqs(p)).toEqual([]);
          expect(gotB.seqs(p)).toEqual([1]);
        });
      });
    }
  });
}
