#!/usr/bin/env node
/**
 * `npx forkctl …`: runs bin/forkctl/cli.ts with ts-node (transpile only; `npm run build` type-checks)
 * on a Node.js forkstack supports (scripts/run.js installs Node 24 from the npm registry where the
 * machine's node is older).
 */
"use strict";
const path = require("path");

const root = path.join(__dirname, "..");
process.argv.splice(2, 0, "ts-node/dist/bin", "--transpile-only", "--project", path.join(root, "tsconfig.json"), path.join(__dirname, "forkctl", "cli.ts"));
require("../scripts/run.js");
