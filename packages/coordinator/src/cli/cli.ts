#!/usr/bin/env node
/**
 * The CLI users run. Tiny by design: parse (program.ts), run, and turn errors into one clear line.
 */
import { AlexnetError } from '@alexnet/core';
import { makeLogger } from './log.js';
import { coordinatorProgram } from './program.js';

coordinatorProgram()
  .parseAsync()
  .catch((e: unknown) => {
    const log = makeLogger({ json: false });
    const sys = e as NodeJS.ErrnoException;
    if (e instanceof AlexnetError) {
      process.stderr.write(`coordinator: ${e.message}\n`);
    } else if (typeof sys?.code === 'string' && typeof sys.syscall === 'string') {
      // the file system or the OS said no (a full disk, a read-only directory): its message names the path
      process.stderr.write(`coordinator: ${sys.message}\n`);
    } else if (process.argv.includes('--verbose')) {
      log.fatal(e as Error);
    } else {
      // not one of ours: one line, and the stack for a bug report on request
      process.stderr.write(`coordinator: unexpected error: ${(e as Error)?.message ?? String(e)} (run with --verbose for the stack)\n`);
    }
    process.exit(1);
  });
