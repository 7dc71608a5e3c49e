/** Runs tasks one after another per key (a project), concurrently across keys. */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** What became of one item of a batch run by `runBatch`. */
export type BatchOutcome<R> = { status: 'done'; value: R } | { status: 'failed'; error: unknown } | { status: 'skipped' };

/**
 * Runs a batch through a serializer: the items of one key one after another in batch order, keys concurrently.
 * The first item of a key that fails ends that key's part of the batch: its later items are skipped, so a
 * retry never finds them applied ahead of it. Resolves once every started item has settled, with each item's
 * outcome in batch order.
 */
export async function runBatch<T, R>(
  serializer: KeyedSerializer,
  items: readonly T[],
  keyOf: (item: T) => string,
  task: (item: T) => Promise<R>,
): Promise<BatchOutcome<R>[]> {
  const failed = new Set<string>();
  return Promise.all(
    items.map((item) => {
      const key = keyOf(item);
      return serializer.run(key, async (): Promise<BatchOutcome<R>> => {
        if (failed.has(key)) return { status: 'skipped' };
        try {
          return { status: 'done', value: await task(item) };
        } catch (error) {
          failed.add(key);
          return { status: 'failed', error };
        }
      });
    }),
  );
}
