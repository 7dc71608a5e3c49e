import pino, { Logger } from 'pino';

/** DI token for the pino logger. */
export const LOGGER = Symbol('LOGGER');

/** JSON lines on stdout; tokens and message texts never go through here. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tiledesk-realtime' },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'text', '*.text'], remove: true },
  });
}
