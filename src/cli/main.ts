#!/usr/bin/env node
/** Entry point of the `edgemark` command. Worker processes have their own (src/runtime/worker-main.ts). */
import { main } from './program.js';

process.exitCode = await main(process.argv);
