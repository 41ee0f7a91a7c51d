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
});
