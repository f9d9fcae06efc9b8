#!/usr/bin/env node
// A committed shim: npm links bins at install time, before `prepare` has built dist/.
import '../dist/cli/cli.js';
