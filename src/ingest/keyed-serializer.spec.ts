import { KeyedSerializer, runBatch } from './keyed-serializer';

interface Gate {
  promise: Promise<void>;
  open: () => void;
  fail: (err: Error) => void;
}

function gate(): Gate {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/** Lets every already-queued promise reaction run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('KeyedSerializer', () => {
  it('runs tasks of one key one after another, in submission order', async () => {
    const s = new KeyedSerializer();
    const log: string[] = [];
    const g1 = gate();
    const g2 = gate();
    const p1 = s.run('p1', async () => {
      log.push('start 1');
      await g1.promise;
      log.push('end 1');
      return 1;
    });
    const p2 = s.run('p1', async () => {
      log.push('start 2');
      await g2.promise;
      log.push('end 2');
      return 2;
    });
    const p3 = s.run('p1', () => {
      log.push('run 3');
      return Promise.resolve(3);
    });
    await settle();
    expect(log).toEqual(['start 1']);
    g2.open();
    await settle();
    expect(log).toEqual(['start 1']);
    g1.open();
    await expect(Promise.all([p1, p2, p3])).resolves.toEqual([1, 2, 3]);
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'run 3']);
  });

  it('runs tasks of different keys concurrently', async () => {
    const s = new KeyedSerializer();
    const started: string[] = [];
    const ga = gate();
    const gb = gate();
    const a = s.run('a', async () => {
      started.push('a');
      await ga.promise;
      return 'a';
    });
    const b = s.run('b', async () => {
      started.push('b');
      await gb.promise;
      return 'b';
    });
    await settle();
    expect(started.sort()).toEqual(['a', 'b']);
    gb.open();
    await expect(b).resolves.toBe('b');
    ga.open();
    await expect(a).resolves.toBe('a');
  });

  it('a rejected task rejects its own promise and does not block the next task of the key', async () => {
    const s = new KeyedSerializer();
    const g = gate();
    const failing = s.run('p1', async () => {
      await g.promise;
      return 'never';
    });
    const next = s.run('p1', () => Promise.resolve('next ran'));
    g.fail(new Error('boom'));
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next ran');
  });

  it('a task that throws synchronously is a rejection, and the key keeps working', async () => {
    const s = new KeyedSerializer();
    const thrower = s.run('p1', (): Promise<number> => {
      throw new Error('sync boom');
    });
    await expect(thrower).rejects.toThrow('sync boom');
    await expect(s.run('p1', () => Promise.resolve(2))).resolves.toBe(2);
  });

  it('keeps working for a key after it went idle', async () => {
    const s = new KeyedSerializer();
    await expect(s.run('p1', () => Promise.resolve(1))).resolves.toBe(1);
    await settle();
    const order: number[] = [];
    const g = gate();
    const a = s.run('p1', async () => {
      await g.promise;
      order.push(1);
    });
    const b = s.run('p1', () => {
      order.push(2);
      return Promise.resolve();
    });
    g.open();
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
  });

  it('keeps order across many tasks of one key', async () => {
    const s = new KeyedSerializer();
    const order: number[] = [];
    const runs = Array.from({ length: 50 }, (_, i) =>
      s.run('p1', async () => {
        // Later tasks finish their own work sooner; the serializer must still keep them in order.
        for (let k = 0; k < 50 - i; k++) await Promise.resolve();
        order.push(i);
      }),
    );
    await Promise.all(runs);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('runBatch', () => {
  it("runs each key's items in batch order, keys side by side, and skips a key's items after its first failure", async () => {
    const log: string[] = [];
    const slowA = gate();
    const items = ['a1', 'b1', 'a2', 'b2', 'a3'];
    const run = runBatch(
      new KeyedSerializer(),
      items,
      (item) => item[0]!,
      async (item) => {
        log.push(`start ${item}`);
        if (item === 'a1') await slowA.promise;
        if (item === 'b1') throw new Error('b1 failed');
        return item.toUpperCase();
      },
    );
    await settle();
    expect(log).toEqual(['start a1', 'start b1']); // b went on without waiting for a; a2 waits for a1
    slowA.open();
    const outcomes = await run;
    expect(log).toEqual(['start a1', 'start b1', 'start a2', 'start a3']);
    expect(outcomes).toEqual([
      { status: 'done', value: 'A1' },
      { status: 'failed', error: new Error('b1 failed') },
      { status: 'done', value: 'A2' },
      { status: 'skipped' },
      { status: 'done', value: 'A3' },
    ]);
  });
});
