import { type DestinationStream, type Logger, pino, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';

export interface LogOptions {
  json?: boolean | undefined;
  verbose?: boolean | undefined;
  quiet?: boolean | undefined;
  /** Also write every line, as JSON, to this file (the run directory's log). */
  file?: string | undefined;
  /** On a terminal: print the human-readable lines here (above the progress bars) instead of stderr. */
  terminal?: NodeJS.WritableStream | undefined;
}

/**
 * Logs go to stderr: human-readable on a terminal, JSON lines otherwise or with --json; `quiet`: warnings
 * and errors only. With `file`, every line (debug with --verbose, else info) also goes there as JSON.
 */
export function makeLogger(o: LogOptions): Logger {
  const level = o.quiet ? 'warn' : o.verbose ? 'debug' : 'info';
  const human = !o.json && process.stderr.isTTY;
  const screen: DestinationStream = human
    ? pretty({ destination: o.terminal ?? 2, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss', sync: true, hideObject: !o.verbose })
    : pino.destination({ dest: 2, sync: true });
  if (!o.file) return pino({ level, base: null }, screen);
  const fileLevel = o.verbose ? 'debug' : 'info';
  const streams: StreamEntry[] = [
    { level, stream: screen },
    { level: fileLevel, stream: pino.destination({ dest: o.file, sync: true, mkdir: true }) },
  ];
  return pino({ level: o.verbose ? 'debug' : 'info', base: null }, pino.multistream(streams));
}
