/**
 * JSON Patch (RFC 6902, https://www.rfc-editor.org/rfc/rfc6902) applied to plain JSON values, as the
 * API server applies a PATCH with `Content-Type: application/json-patch+json`: operations in order,
 * all or nothing. The offline render's simulated cluster and the tests' fake API server use it so
 * that route writes (fork/routeSync.ts) meet the same rules there as on a real cluster; live code
 * only builds patches and lets the API server apply them.
 *
 * What routeSync relies on, all from the RFC: `add` at an array index inserts before the element
 * there (index == length appends, `-` appends), `remove` shifts the later elements down, `test`
 * compares by JSON value (object members in any order, arrays in order), and a failed operation
 * leaves the document unchanged.
 */

export type JsonPatchOp =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

/** The patch does not apply to the document (a failed `test`, a missing path, a bad index); nothing was changed. */
export class JsonPatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonPatchError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/** RFC 6901 pointer → its reference tokens (`~1` is `/`, `~0` is `~`, in that order). */
export function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new JsonPatchError(`invalid JSON pointer ${JSON.stringify(pointer)}: it must be empty or start with /`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** A token as an array index: decimal digits without leading zeros (RFC 6901 §4). */
function arrayIndex(token: string, length: number, op: string, path: string, allowEnd: boolean): number {
  if (token === "-" && allowEnd) return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new JsonPatchError(`${op} operation does not apply: ${path}: ${JSON.stringify(token)} is not an array index`);
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw new JsonPatchError(`${op} operation does not apply: ${path}: index ${i} is out of range (array of ${length})`);
  return i;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const has = (o: Record<string, unknown>, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The container the last token of `tokens` lives in; throws when a step of the way is missing. */
function parentOf(doc: unknown, tokens: string[], op: string, path: string): unknown {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, op, path, false)];
    else if (isObject(cur) && has(cur, t)) cur = cur[t];
    else throw new JsonPatchError(`${op} operation does not apply: doc is missing path: ${path}`);
  }
  return cur;
}

function get(doc: unknown, path: string, op: string): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, op, path);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, op, path, false)];
  if (isObject(parent) && has(parent, last)) return parent[last];
  throw new JsonPatchError(`${op} operation does not apply: doc is missing path: ${path}`);
}

/** JSON equality (RFC 6902 §4.6): same type; objects with the same members in any order; arrays element by element. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => has(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** Applies one operation to `doc` in place (or returns a new root); throws JsonPatchError. */
function applyOne(doc: unknown, o: JsonPatchOp): unknown {
  const op = o.op;
  switch (op) {
    case "test": {
      if (!jsonEqual(get(doc, o.path, op), o.value)) throw new JsonPatchError(`testing value ${o.path} failed: test failed`);
      return doc;
    }
    case "remove": {
      const tokens = parsePointer(o.path);
      if (tokens.length === 0) throw new JsonPatchError("remove operation does not apply: the whole document cannot be removed");
      const parent = parentOf(doc, tokens, op, o.path);
      const last = tokens[tokens.length - 1];
      if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, op, o.path, false), 1);
      else if (isObject(parent) && has(parent, last)) delete parent[last];
      else throw new JsonPatchError(`remove operation does not apply: doc is missing path: ${o.path}`);
      return doc;
    }
    case "add":
    case "replace": {
      const value = clone(o.value);
      if (value === undefined) throw new JsonPatchError(`${op} operation at ${o.path} has no value`);
      const tokens = parsePointer(o.path);
      if (tokens.length === 0) return value;
      const parent = parentOf(doc, tokens, op, o.path);
      const last = tokens[tokens.length - 1];
      if (Array.isArray(parent)) {
        if (op === "add") parent.splice(arrayIndex(last, parent.length, op, o.path, true), 0, value);
        else parent[arrayIndex(last, parent.length, op, o.path, false)] = value;
      } else if (isObject(parent) && (op === "add" || has(parent, last))) {
        parent[last] = value;
      } else {
        throw new JsonPatchError(`${op} operation does not apply: doc is missing path: ${o.path}`);
      }
      return doc;
    }
    case "move":
    case "copy": {
      if (op === "move" && (o.path === o.from || o.path.startsWith(`${o.from}/`))) {
        if (o.path === o.from) return doc;
        throw new JsonPatchError(`move operation does not apply: ${o.from} cannot be moved into its own child ${o.path}`);
      }
      const value = clone(get(doc, o.from, op));
      const after = op === "move" ? applyOne(doc, { op: "remove", path: o.from }) : doc;
      return applyOne(after, { op: "add", path: o.path, value });
    }
    default:
      throw new JsonPatchError(`unknown JSON Patch operation ${JSON.stringify(op)}`);
  }
}

/**
 * The document after every operation, or a JsonPatchError naming the first that did not apply.
 * Never changes `doc`: a patch applies whole or not at all (RFC 6902 §5).
 */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  if (!Array.isArray(ops)) throw new JsonPatchError("a JSON Patch is an array of operations");
  let out: unknown = clone(doc);
  for (const o of ops) {
    if (o === null || typeof o !== "object" || typeof (o as { path?: unknown }).path !== "string") throw new JsonPatchError(`invalid JSON Patch operation ${JSON.stringify(o)}`);
    out = applyOne(out, o);
  }
  return out as T;
}
