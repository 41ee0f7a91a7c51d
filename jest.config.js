/** Jest runs the TypeScript sources directly; type errors are caught by `tsc --noEmit` in CI. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testTimeout: 30000,
  // Two workers on two cores: Jest otherwise starts one (cores - 1) and runs the files in sequence.
  maxWorkers: 2,
};
