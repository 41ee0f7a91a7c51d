#!/usr/bin/env node
/**
 * Entry point of `npm run e2e` (through scripts/run.js, which picks the Node version): registers
 * ts-node, then runs e2e/run.ts in this process. Not `ts-node/dist/bin`: scripts/run.js `require`s
 * its entry, and ts-node's bin only starts when it is the main module.
 */
"use strict";
require("ts-node").register({ transpileOnly: true });
require("./run.ts");
