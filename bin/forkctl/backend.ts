/**
 * The small part of the Pulumi Automation API that forkctl needs, as an interface: the command
 * logic (commands.ts) is tested against a fake, the real implementation (automation.ts) drives the
 * Pulumi CLI with this project as the local program. Works with any backend (Pulumi Cloud, s3://,
 * file://): everything forkctl remembers about a fork lives in the stack itself — its config of the
 * last update (the fork contract, with its fixed expiry), its outputs, and the tags forkctl sets
 * before the first update (so that a fork whose first update failed is still known as one).
 */

/** A stack of the project, as `pulumi stack ls` describes it. */
export interface StackInfo {
  readonly name: string;
  /** ISO 8601 time of the last update, if any. */
  readonly lastUpdate?: string;
  readonly updateInProgress: boolean;
  readonly resourceCount?: number;
}

/** What the last operation on a stack was and the config it ran with. */
export interface LastUpdate {
  readonly kind: string;
  /** `succeeded`, `failed`, `in-progress`, ... */
  readonly result: string;
  /**
   * Plain config values, by full key (`forkstack:fork`), of the last `update` (the last operation
   * that ran the program, so that a failed destroy does not hide what the fork was).
   */
  readonly config: Readonly<Record<string, string>>;
}

/** A stack's tags (`pulumi stack tag ls`): forkctl's own (`forkstack:*`) and Pulumi's (`pulumi:project`, ...). */
export type Tags = Readonly<Record<string, string>>;

export interface UpOutcome {
  /** False when the update changed nothing ("no changes"). */
  readonly changed: boolean;
  readonly outputs: Record<string, unknown>;
}

/** Who holds a stack's lock, as a self-managed backend records it (pulumi backend/diy/lock.go). */
export interface LockHolder {
  readonly user: string;
  readonly host: string;
  readonly pid: number;
  /** RFC 3339, as the lock says. */
  readonly since: string;
}

/** Another update holds the stack's lock; retried with backoff by the caller. */
export class StackLockedError extends Error {
  constructor(
    stack: string,
    /** The locks' holders when the backend names them (a self-managed backend does; Pulumi Cloud does not). */
    public readonly holders: readonly LockHolder[] = [],
  ) {
    super(`stack ${stack} is locked by another update`);
    this.name = "StackLockedError";
  }
}

/**
 * The holders a self-managed backend lists in its lock error: lines `  <url>: created by
 * <user>@<host> (pid <n>) at <time>` (pulumi backend/diy/lock.go checkForLock).
 */
export function lockHolders(message: string): LockHolder[] {
  const out: LockHolder[] = [];
  // Each once: the Automation API's error carries the CLI's stderr twice (stderr, err?).
  for (const m of message.matchAll(/: created by (.*)@([^@\s]+) \(pid (\d+)\) at (\S+)/g)) {
    const holder = { user: m[1], host: m[2], pid: Number(m[3]), since: m[4] };
    if (!out.some((h) => JSON.stringify(h) === JSON.stringify(holder))) out.push(holder);
  }
  return out;
}

export interface ForkBackend {
  /** Every stack of the project. */
  listStacks(): Promise<StackInfo[]>;
  /** A stack's outputs (secrets masked), or undefined when the stack does not exist. */
  outputs(stack: string): Promise<Record<string, unknown> | undefined>;
  /** The last update of a stack, or undefined when it does not exist or never ran. */
  lastUpdate(stack: string): Promise<LastUpdate | undefined>;
  /** A stack's tags, or undefined when the stack does not exist. */
  tags(stack: string): Promise<Tags | undefined>;
  /** Sets tags of an existing stack; a null value removes the tag. */
  setTags(stack: string, tags: Readonly<Record<string, string | null>>): Promise<void>;
  /**
   * Creates the stack when missing, sets `tags` on it (null removes one), then runs `pulumi up`
   * with `config` as the stack's `forkstack:*` config (other keys of a checkout's
   * Pulumi.<stack>.yaml are kept), streaming the engine's lines to `onOutput`. Never writes,
   * leaves or deletes a file in the project folder. Rejects with StackLockedError when another
   * update holds the stack.
   */
  up(stack: string, config: Readonly<Record<string, string>>, tags: Readonly<Record<string, string | null>>, onOutput: (line: string) => void): Promise<UpOutcome>;
  /**
   * `pulumi destroy`, then `pulumi stack rm`, leaving the project folder as it was (a checkout's
   * Pulumi.<stack>.yaml is never deleted). Resolves false when the stack did not exist.
   */
  destroyAndRemove(stack: string, onOutput: (line: string) => void): Promise<boolean>;
  /** `pulumi cancel`: removes the stack's lock (on a self-managed backend, its lock files). */
  cancel(stack: string): Promise<void>;
}
