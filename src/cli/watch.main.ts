import { formatFrame } from './frame-formatter';
import { parseWatchArgs, WATCH_USAGE } from './watch-args';
import { WatchConnection, WatchEvent } from './watch-connection';

/**
 * `npm run watch -- --topic T --token JWT [--url ws://localhost:3000/]`: a terminal view of topics.
 * Frames go to stdout (one line each, or raw with --json); connection news goes to stderr.
 * Exit codes: 0 stopped (Ctrl-C) or closed normally with --once, 1 dropped with --once or closed with 4001 (the
 * token expired: a token given on the command line cannot be renewed), 2 bad arguments, 3 handshake refused.
 * The connection is the typed client's (src/client): back-off with full jitter, resubscribe, heartbeats.
 */

function main(): void {
  const args = parseWatchArgs(process.argv.slice(2));
  if (!args.ok) {
    if (args.help) {
      process.stdout.write(`${args.message}\n`);
      process.exit(0);
    }
    process.stderr.write(`${args.message}\n\n${WATCH_USAGE}\n`);
    process.exit(2);
  }
  const { options } = args;
  const note = (line: string) => process.stderr.write(`# ${line}\n`);
  const onEvent = (e: WatchEvent): void => {
    switch (e.type) {
      case 'open':
        note(`connected to ${e.url}, subscribing to ${e.topics.join(', ')}`);
        break;
      case 'frame': {
        const line = formatFrame(e.raw, { at: e.at, json: options.json });
        if (line !== null) process.stdout.write(`${line}\n`);
        break;
      }
      case 'refused':
        process.stderr.write(`handshake refused: HTTP ${e.status} ${e.body.trim()}\n`);
        break;
      case 'closed':
        note(
          `connection closed (code ${e.code}${e.reason ? ` ${e.reason}` : ''})` +
            (e.retryInMs !== null ? `; reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s` : ''),
        );
        break;
      case 'error':
        note(`connection error: ${e.message}`);
        break;
    }
  };
  const connection = new WatchConnection({ url: options.url, token: options.token, topics: options.topics, once: options.once }, onEvent);
  const stop = () => connection.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  connection.start();
  void connection.done.then((end) => {
    if (end.reason === 'refused') process.exit(3);
    if (end.reason === 'closed') process.exit(end.code === 1000 ? 0 : 1);
    // stopped: let the close frame go out, then leave
    setTimeout(() => process.exit(0), 200).unref();
  });
}

main();
