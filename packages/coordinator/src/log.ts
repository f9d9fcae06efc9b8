import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Logs go to stderr: human-readable on a terminal, JSON lines otherwise or with --json. */
export function makeLogger(o: { json?: boolean; verbose?: boolean; quiet?: boolean }): Logger {
  const level = o.quiet ? 'warn' : o.verbose ? 'debug' : 'info';
  if (!o.json && process.stderr.isTTY) {
    return pino({ level }, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss', sync: true }));
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}
