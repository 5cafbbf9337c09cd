#!/usr/bin/env node
// Entry point of the `dicomtap` command: runs the compiled CLI (npm run build makes dist/).
import { main } from "../dist/agent/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
