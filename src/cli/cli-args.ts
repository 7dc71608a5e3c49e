import { parseArgs, ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: O & typeof HELP }>
>['values'];

/** A command line that is not a run: a usage error (`help: false`) or `--help`/`-h` (the usage as message). */
export interface NotARun {
  ok: false;
  help: boolean;
  message: string;
}

/**
 * The parsing every CLI here shares: strict `node:util` parseArgs, no positionals, `--help`/`-h` added to
 * `options` and answered with `usage`, an unknown or malformed option answered with parseArgs' message.
 */
export function parseCommandLine<O extends Options>(argv: string[], options: O, usage: string): { ok: true; values: Values<O> } | NotARun {
  let values: Values<O>;
  try {
    const config = { args: argv, strict: true, allowPositionals: false, options: { ...options, ...HELP } } as const;
    ({ values } = parseArgs(config));
  } catch (err) {
    return { ok: false, help: false, message: err instanceof Error ? err.message : String(err) };
  }
  if ('help' in values && values.help === true) return { ok: false, help: true, message: usage };
  return { ok: true, values };
}

/** Tiledesk clients carry the REST token as `JWT <jwt>` (or `JWT%20<jwt>` from a URL); the CLIs take either spelling. */
export function bareJwt(token: string): string {
  return token.trim().replace(/^JWT(\s+|%20)/i, '');
}
