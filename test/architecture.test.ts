/** Dependency direction: library code never imports tooling (STYLE.md). */
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sources(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** Each relative module a file imports (or re-exports from), resolved to a path without extension. */
function localImports(file: string): string[] {
  return [...fs.readFileSync(file, "utf8").matchAll(/(?:from|require\()\s*["']([^"']+)["']/g)].filter((m) => m[1].startsWith(".")).map((m) => path.resolve(path.dirname(file), m[1]));
}

describe("components/", () => {
  it("imports nothing from render/, bin/, e2e/ or test/", () => {
    const offenders = sources(path.join(ROOT, "components")).flatMap((file) =>
      [...fs.readFileSync(file, "utf8").matchAll(/(?:from|require\()\s*["']([^"']+)["']/g)]
        .map((m) => path.resolve(path.dirname(file), m[1]))
        .filter((target) => ["render", "bin", "e2e", "test"].some((dir) => target.startsWith(path.join(ROOT, dir) + path.sep)))
        .map((target) => `${path.relative(ROOT, file)} → ${path.relative(ROOT, target)}`),
    );
    expect(offenders).toEqual([]);
  });

  // The config is the bottom layer: forkPolicy.ts and naming.ts import it, never the reverse.
  it("components/config/ imports nothing outside itself but components/errors.ts", () => {
    const dir = path.join(ROOT, "components", "config");
    const offenders = sources(dir).flatMap((file) =>
      localImports(file)
        .filter((target) => !target.startsWith(dir + path.sep) && target !== path.join(ROOT, "components", "errors"))
        .map((target) => `${path.relative(ROOT, file)} → ${path.relative(ROOT, target)}`),
    );
    expect(offenders).toEqual([]);
  });

  it("finds the config modules' imports (the scan works)", () => {
    expect(localImports(path.join(ROOT, "components", "config", "base.ts"))).toContain(path.join(ROOT, "components", "errors"));
  });
});
