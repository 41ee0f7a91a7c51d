/** The RFC 6902 applier the simulated cluster and the fake API server patch VirtualServices with. */
import { applyJsonPatch, JsonPatchError, jsonEqual, parsePointer } from "../../components/kube/jsonPatch";

const doc = () => ({ spec: { hosts: ["a"], http: [{ name: "r0" }, { name: "r1" }, { name: "r2" }] }, "a/b": { "m~n": 1 } });

describe("applyJsonPatch", () => {
  it("inserts at an array index before the element there", () => {
    expect(applyJsonPatch(doc(), [{ op: "add", path: "/spec/http/0", value: { name: "new" } }]).spec.http.map((r) => r.name)).toEqual(["new", "r0", "r1", "r2"]);
  });

  it("appends with - and with the index equal to the length", () => {
    const out = applyJsonPatch(doc(), [
      { op: "add", path: "/spec/http/-", value: { name: "x" } },
      { op: "add", path: "/spec/http/4", value: { name: "y" } },
    ]);
    expect(out.spec.http.map((r) => r.name)).toEqual(["r0", "r1", "r2", "x", "y"]);
  });

  it("refuses an add past the end of an array", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "add", path: "/spec/http/4", value: {} }])).toThrow(JsonPatchError);
  });

  it("refuses an index with a leading zero", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "add", path: "/spec/http/01", value: {} }])).toThrow("is not an array index");
  });

  it("replaces an existing object member when adding it", () => {
    expect(applyJsonPatch(doc(), [{ op: "add", path: "/spec/hosts", value: ["b"] }]).spec.hosts).toEqual(["b"]);
  });

  it("refuses an add whose parent is missing", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "add", path: "/spec/tcp/0", value: {} }])).toThrow("doc is missing path: /spec/tcp/0");
  });

  it("removes an array element and shifts the later ones down", () => {
    expect(applyJsonPatch(doc(), [{ op: "remove", path: "/spec/http/1" }]).spec.http.map((r) => r.name)).toEqual(["r0", "r2"]);
  });

  it("refuses to remove - or an index past the last element", () => {
    expect([() => applyJsonPatch(doc(), [{ op: "remove", path: "/spec/http/-" }]), () => applyJsonPatch(doc(), [{ op: "remove", path: "/spec/http/3" }])].map((f) => {
      try {
        f();
        return "applied";
      } catch (err) {
        return (err as Error).name;
      }
    })).toEqual(["JsonPatchError", "JsonPatchError"]);
  });

  it("replaces an array element in place", () => {
    expect(applyJsonPatch(doc(), [{ op: "replace", path: "/spec/http/2", value: { name: "z" } }]).spec.http.map((r) => r.name)).toEqual(["r0", "r1", "z"]);
  });

  it("refuses to replace a member that does not exist", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "replace", path: "/spec/gateways", value: [] }])).toThrow("doc is missing path: /spec/gateways");
  });

  it("passes a test whose value equals the target, object members in any order", () => {
    const d = { a: { x: 1, y: [1, { z: "q" }] } };
    expect(applyJsonPatch(d, [{ op: "test", path: "/a", value: { y: [1, { z: "q" }], x: 1 } }])).toEqual(d);
  });

  it("fails a test whose value differs, naming the path", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "test", path: "/spec/http/0/name", value: "r1" }])).toThrow(new JsonPatchError("testing value /spec/http/0/name failed: test failed"));
  });

  it("fails a test of a path that does not exist", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "test", path: "/spec/http/3/name", value: "r3" }])).toThrow(JsonPatchError);
  });

  it("changes nothing when a later operation fails (all or nothing), and never changes its input", () => {
    const d = doc();
    const before = JSON.stringify(d);
    expect(() =>
      applyJsonPatch(d, [
        { op: "remove", path: "/spec/http/0" },
        { op: "test", path: "/spec/http/0/name", value: "nope" },
      ]),
    ).toThrow(JsonPatchError);
    expect(JSON.stringify(d)).toBe(before);
  });

  it("applies operations in order, each seeing the previous ones' result", () => {
    const out = applyJsonPatch(doc(), [
      { op: "test", path: "/spec/http/2/name", value: "r2" },
      { op: "remove", path: "/spec/http/2" },
      { op: "test", path: "/spec/http/0/name", value: "r0" },
      { op: "remove", path: "/spec/http/0" },
    ]);
    expect(out.spec.http).toEqual([{ name: "r1" }]);
  });

  it("moves and copies values", () => {
    const out = applyJsonPatch(doc(), [
      { op: "move", from: "/spec/http/0", path: "/spec/http/-" },
      { op: "copy", from: "/spec/hosts", path: "/spec/copied" },
    ]) as any;
    expect([out.spec.http.map((r: any) => r.name), out.spec.copied]).toEqual([["r1", "r2", "r0"], ["a"]]);
  });

  it("unescapes ~1 and ~0 in pointers", () => {
    expect([parsePointer("/a~1b/m~0n"), applyJsonPatch(doc(), [{ op: "test", path: "/a~1b/m~0n", value: 1 }])["a/b"]]).toEqual([["a/b", "m~n"], { "m~n": 1 }]);
  });

  it("replaces the whole document at the empty pointer", () => {
    expect(applyJsonPatch<unknown>(doc(), [{ op: "replace", path: "", value: { b: 2 } }])).toEqual({ b: 2 });
  });

  it("refuses an unknown operation", () => {
    expect(() => applyJsonPatch(doc(), [{ op: "merge", path: "/spec" } as any])).toThrow('unknown JSON Patch operation "merge"');
  });
});

describe("jsonEqual", () => {
  it("tells arrays in another order apart and numbers from strings", () => {
    expect([jsonEqual([1, 2], [2, 1]), jsonEqual(1, "1"), jsonEqual({}, []), jsonEqual(null, {}), jsonEqual({ a: [1] }, { a: [1] })]).toEqual([false, false, false, false, true]);
  });
});
