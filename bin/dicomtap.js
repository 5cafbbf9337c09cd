#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=96 --max-semi-space-size=2
// Entry point of the `dicomtap` command: runs the compiled CLI (npm run build makes dist/).
// The V8 limits above keep the process inside the memory budget of agent/pipeline/pipeline.ts (128 MiB
// of RSS): every table is capped, and these make V8 collect garbage before its heap grows past them
// instead of when it likes (with 24 GiB of RAM it would let the heap reach gigabytes). MALLOC_ARENA_MAX=2
// stops glibc giving each of Node's threads (GC helpers, the libuv pool, the capture worker) a malloc
// arena of its own: about 5-10 MiB of the agent's RSS under the flow floods. The systemd unit passes the
// same; `node bin/dicomtap.js` without them works the same, with a larger RSS.
import { main } from "../dist/agent/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
