/** Jest runs the TypeScript sources directly; type errors are caught by `tsc --noEmit` in CI. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testTimeout: 30000,
  // Two workers on two cores: Jest otherwise starts one (cores - 1) and runs the files in sequence.
  maxWorkers: 2,
  // A worker ends within a millisecond of its last file (nothing is left running), but Node's teardown
  // of its 1.3-1.7 GB heap takes longer than Jest's default 500 ms on a busy two-core machine, and Jest
  // then reports "A worker process has failed to exit gracefully". The option (jestjs/jest#15984, Jest
  // 30.4) gives it time; a worker kept alive by a real leak is still reported, five seconds later.
  workerGracefulExitTimeout: 5000,
};
