import { BACKFILL_USAGE, parseBackfillArgs } from './backfill/backfill-args';
import { runBackfill } from './backfill/backfill-runner';

/**
 * `npm run backfill -- --file events.jsonl | --api URL --token JWT [--target http://127.0.0.1:3000]`: loads
 * the current state into the service (ingest.md §3). See backfill/backfill-args.ts for every option.
 * Exit codes: 0 done, 1 something failed or the run stopped (the summary says what), 2 bad arguments.
 */
async function main(): Promise<number> {
  const args = parseBackfillArgs(process.argv.slice(2), process.env);
  if (!args.ok) {
    if (args.help) {
      process.stdout.write(`${args.message}\n`);
      return 0;
    }
    process.stderr.write(`${args.message}\n\n${BACKFILL_USAGE}\n`);
    return 2;
  }
  const result = await runBackfill(args.options, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (text) => process.stderr.write(text),
    tty: process.stderr.isTTY ? process.stderr : undefined,
  });
  return result.exitCode;
}

main().then(
  (code) => {
    // Let stdout drain (a dry run piped to a file), then leave even if a timer or socket lingers.
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`backfill failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
