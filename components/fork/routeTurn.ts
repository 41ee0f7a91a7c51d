/**
 * Forks of one Service take turns to write its routes, with a Lease
 * (coordination.k8s.io/v1, https://kubernetes.io/docs/concepts/architecture/leases/) named for the
 * Service in its namespace: whoever created it writes; the others wait and check again.
 *
 * Why: every fork of a Service writes the same VirtualService, and kube-apiserver applies concurrent
 * writes to one object one at a time. It runs each write in full (JSON Patch, the CRD's schema and
 * Istio's CEL rules over every route, admission) and retries the ones that lost the race itself, so
 * with D writers at once it does the work of about D²/2 writes and each one waits for most of them.
 * Measured with 200 forks on the e2e tier's kube-apiserver (BENCHMARKS.md): 7–8 minutes per phase,
 * writes without an answer for 70 s, 5–6 reads per fork. Taking turns, the server sees one write
 * at a time, and each one is answered at once.
 *
 * The turn is only about speed, never about correctness: the writes keep their own guards (JSON
 * Patch `test`s, resourceVersions; fork/routeSync.ts), so a writer without a turn (a fork of an
 * earlier release, an app team's `kubectl edit`) is still safe. Hence every failure here ends in
 * writing without a turn rather than failing the fork: the fork group may not use Leases (a base
 * stack of an earlier release: 403), the turn did not come within `waitMs`, or the server failed to
 * answer. A holder that stops renewing (its process died) is passed over once its Lease has not
 * changed for its duration, measured on this machine's clock as client-go's leader election does
 * (tools/leaderelection: `observedTime`), so clocks that disagree do not matter. A turn is bounded
 * by work, not by patience: a holder that has held it for `maxHoldSeconds` (seen the same way:
 * the same holder and acquireTime, on this machine's clock) is passed over although it renews.
 *
 * Waiters are served in arrival order: a writer that finds the turn held takes a ticket (a Lease
 * named for the turn and itself, naming.turnTicketName), and a holder that is done hands the turn
 * to the oldest ticket (the server's creationTimestamp, then the ticket's acquireTime) by making
 * that writer the Lease's holder, for `HANDOFF_SECONDS`: the writer, woken by its watch of the
 * Lease (or at its next check), writes at once, deletes its ticket meanwhile, and its first
 * renewal (within a third of those seconds) gives the Lease its own duration. One that never does (it
 * died while waiting) is passed over once those seconds pass without a change, and its ticket goes
 * with it. A ticket older than the longest wait is stale (its writer gave up or died), and the
 * holder deletes it. Without tickets (a base of an earlier release: no `list` of Leases, no handover
 * in its policy) the turn is freed and whoever checks first takes it, as before.
 *
 * It does no I/O besides `leases`; sleep, randomness and the clock are injectable for tests.
 */
import { isConflict, isNotFound, Lease, LeaseApi } from "../kube/vsApi";
import { LABELS, MANAGED_BY, turnLeaseName, turnTicketName } from "../naming";
import { oneLine, Pacing, sleepFor } from "../kube/retry";

export interface TurnOptions extends Pacing {
  /**
   * The Lease's duration: a holder renews every third of it, and one that has not renewed for all of
   * it is passed over.
   * @default 15
   */
  readonly leaseSeconds?: number;
  /** How long to wait for a turn before writing without one. @default 300000 (5 min) */
  readonly waitMs?: number;
  /**
   * The longest a writer keeps a turn: one claim's writes take a second or two, so a holder past
   * this is stuck (a hung request, a CI job that never ends). It stops renewing then, and a waiter
   * passes over a holder it has seen hold that long (whatever its release), so a stuck job costs
   * the Service's other forks at most this plus the Lease's duration.
   * @default 40
   */
  readonly maxHoldSeconds?: number;
  /** First ceiling between checks of a held Lease; doubles per check up to `maxPollMs` (full jitter). @default 200 */
  readonly pollMs?: number;
  /** @default 2000 */
  readonly maxPollMs?: number;
  /**
   * A monotonic clock in ms for waits and for passing a holder over: a wall clock that jumps (an NTP
   * correction) must not pass over a live holder. The Lease's own times are wall-clock.
   * @default performance.now
   */
  readonly now?: () => number;
  /** Told once per turn it goes without, and why. */
  readonly onUnqueued?: (reason: string) => void;
  /** Told how the turn went: reads of the Lease, time waited, whether it was held. */
  readonly onTurn?: (stats: TurnStats) => void;
}

export interface TurnStats {
  /** Reads of the Lease before the turn came (or was given up). */
  checks: number;
  waitedMs: number;
  /** Whether the write ran holding the Lease. */
  held: boolean;
}

export const TURN_DEFAULTS = { leaseSeconds: 15, waitMs: 300_000, pollMs: 200, maxPollMs: 2000, maxHoldSeconds: 40 } as const;

/** The longest duration honoured from another holder's Lease: an odd value must not stall everyone. */
const MAX_HONOURED_SECONDS = 60;

/**
 * The Lease's duration while handed to a waiter that has not taken it yet: it checks at least every
 * `maxPollMs` (2 s), so a waiter that does not take it in this long is gone, and is passed over.
 */
export const HANDOFF_SECONDS = 5;

/** How long a ticket counts beyond the longest wait, for clocks that disagree (tickets carry the waiter's time). */
const TICKET_SLACK_MS = 60_000;

/** A Lease's MicroTime: RFC 3339 with exactly six fractional digits (apimachinery `RFC3339Micro`). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}


/** Where forks of a Service take turns, and who is asking. */
export interface TurnOf {
  readonly service: { readonly name: string; readonly namespace: string };
  /** Written as the Lease's holderIdentity: unique per writer (fork id and a random suffix). */
  readonly holder: string;
}

/**
 * Runs `write` holding the Service's turn, or without one when `leases` is undefined or the turn
 * cannot be had (see the file comment). The Lease is deleted afterwards, whatever `write` did.
 */
export async function inTurn<T>(leases: LeaseApi | undefined, turn: TurnOf, write: (held: boolean) => Promise<T>, opts: TurnOptions = {}): Promise<T> {
  if (leases === undefined) return write(false);
  const now = opts.now ?? performance.now.bind(performance);
  const started = now();
  const stats: TurnStats = { checks: 0, waitedMs: 0, held: false };
  // Requests that need not hold the write up (deleting our ticket): awaited once it is done.
  const after: Promise<void>[] = [];
  const held = await acquire(leases, turn, opts, stats, after);
  stats.waitedMs = now() - started;
  stats.held = held !== undefined;
  tell(opts.onTurn, stats);
  if (held === undefined) return write(false).finally(() => Promise.all(after));
  const renewal = renewing(leases, turn, held, opts);
  try {
    return await write(true);
  } finally {
    // The Lease as last renewed: a renewal that found it deleted (passed over) created it anew.
    await handOver(leases, turn, await renewal.stop(), opts);
    await Promise.all(after);
  }
}

/**
 * Ends a turn: hands the Lease to the oldest waiter's ticket, or deletes it when nobody waits (or
 * the handover fails: someone passed us over, or a base of an earlier release forbids listing or
 * handing over Leases). Stale tickets found on the way are deleted.
 */
async function handOver(leases: LeaseApi, turn: TurnOf, held: Lease, opts: TurnOptions): Promise<void> {
  const next = await oldestTicket(leases, turn, opts).catch(() => undefined);
  if (next !== undefined) {
    const at = microTime(Date.now());
    const spec = { ...(held.spec as object), holderIdentity: next, leaseDurationSeconds: HANDOFF_SECONDS, acquireTime: at, renewTime: at };
    const handed = await leases.replace({ ...held, spec }).then(
      () => true,
      () => false,
    );
    if (handed) return;
  }
  await release(leases, held);
}

/** The holder named by the oldest live ticket for the turn (not `turn`'s own), deleting stale ones; undefined when none. */
async function oldestTicket(leases: LeaseApi, turn: TurnOf, opts: TurnOptions): Promise<string | undefined> {
  const { namespace } = turn.service;
  const tickets = await leases.list(namespace, { labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`, prefix: `${turnLeaseName(turn.service.name)}.` });
  const maxAge = (opts.waitMs ?? TURN_DEFAULTS.waitMs) + TICKET_SLACK_MS;
  const live: Lease[] = [];
  for (const t of tickets) {
    const holder = spec(t).holderIdentity;
    if (holder === undefined || holder === turn.holder || t.metadata.name !== turnTicketName(turn.service.name, holder)) continue;
    // The server's time of creation: a waiter's clock far behind must not make its live ticket look stale.
    const since = Date.parse(String(t.metadata.creationTimestamp ?? spec(t).acquireTime ?? ""));
    if (Number.isNaN(since) || Date.now() - since > maxAge) await leases.delete(namespace, t.metadata.name, { resourceVersion: String(t.metadata.resourceVersion) }).catch(() => undefined);
    else live.push(t);
  }
  const key = (t: Lease) => [String(t.metadata.creationTimestamp ?? ""), spec(t).acquireTime ?? "", t.metadata.name];
  live.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0].localeCompare(y[0]) || x[1].localeCompare(y[1]) || x[2].localeCompare(y[2]);
  });
  return live.length === 0 ? undefined : spec(live[0]).holderIdentity;
}

/**
 * Takes a ticket for the turn (see the file comment): the Lease naming.turnTicketName names,
 * holding `turn.holder`. Undefined when it cannot be had (then the writer competes as before).
 */
async function takeTicket(leases: LeaseApi, turn: TurnOf, seconds: number): Promise<Lease | undefined> {
  const lease = turnLease(turn, seconds, Date.now());
  const ticket = { ...lease, metadata: { ...lease.metadata, name: turnTicketName(turn.service.name, turn.holder) } };
  try {
    return await leases.create(ticket);
  } catch (err) {
    // Our own create, applied and retried (kube/retry.ts), answers 409: the ticket is there and ours.
    if (!isConflict(err)) return undefined;
    const found = await leases.get(turn.service.namespace, ticket.metadata.name).catch(() => undefined);
    return found !== undefined && ours(found, turn) ? found : undefined;
  }
}

/**
 * Deletes our Lease (uid precondition: taken over after we stopped renewing, it is not ours to
 * delete). A failure leaves a Lease the next writer passes over once it expires.
 */
function release(leases: LeaseApi, held: Lease): Promise<void> {
  return leases.delete(String(held.metadata.namespace), held.metadata.name, { uid: String(held.metadata.uid) }).catch(() => undefined);
}

/** Calls a caller's callback; what it throws is not the turn's business (it must not strand a Lease). */
function tell<A>(callback: ((arg: A) => void) | undefined, arg: A): void {
  try {
    callback?.(arg);
  } catch {
    // ignored
  }
}

/** The Lease a writer creates to hold the turn (`at`: now, in ms). */
export function turnLease(turn: TurnOf, seconds: number, at: number): Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: turnLeaseName(turn.service.name), namespace: turn.service.namespace, labels: { [LABELS.managedBy]: MANAGED_BY } },
    spec: { holderIdentity: turn.holder, leaseDurationSeconds: seconds, acquireTime: microTime(at), renewTime: microTime(at) },
  };
}

const spec = (lease: Lease) => (lease.spec ?? {}) as { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string };

/** Whether the Lease (as read) names this writer as its holder. */
const ours = (lease: Lease, turn: TurnOf): boolean => spec(lease).holderIdentity === turn.holder;

/** Resolves to the Lease once held, or undefined when the write goes without a turn (told to onUnqueued). */
async function acquire(leases: LeaseApi, turn: TurnOf, opts: TurnOptions, stats: TurnStats, after: Promise<void>[]): Promise<Lease | undefined> {
  const { leaseSeconds: seconds = TURN_DEFAULTS.leaseSeconds, waitMs = TURN_DEFAULTS.waitMs, pollMs: poll = TURN_DEFAULTS.pollMs, maxPollMs: maxPoll = TURN_DEFAULTS.maxPollMs } = opts;
  const { sleep = sleepFor, random = Math.random, now = performance.now.bind(performance) } = opts;
  const { namespace } = turn.service;
  const name = turnLeaseName(turn.service.name);
  const where = `Lease ${namespace}/${name}`;
  const deadline = now() + waitMs;
  const maxHoldMs = 1000 * (opts.maxHoldSeconds ?? TURN_DEFAULTS.maxHoldSeconds);
  // The version of the holder's Lease last seen, and since when (on this machine's clock); the
  // holder's turn (holder and acquireTime) and since when it was first seen.
  let seen: { version: string; since: number } | undefined;
  let holding: { turn: string; since: number } | undefined;
  let created = false;
  // Our place in the queue once the turn was found held; `false` when no ticket could be had.
  let ticket: Lease | false | undefined;
  // With a ticket, a watch of the turn wakes us when it is handed to us or freed (LeaseApi.watch):
  // without one the handover would wait for our next check, up to `maxPollMs` per turn.
  let wake: (() => void) | undefined;
  let unwatch: (() => void) | undefined;
  try {
    for (let check = 0; ; check++) {
      if (now() >= deadline) {
        tell(opts.onUnqueued, `no turn at ${where} within ${Math.round(waitMs / 1000)} s; writing without one`);
        return undefined;
      }
      stats.checks++;
      const current = await leases.get(namespace, name);
      if (current === undefined) {
        try {
          created = true;
          return await leases.create(turnLease(turn, seconds, Date.now()));
        } catch (err) {
          if (!isConflict(err)) throw err;
          // Another writer created it first, or our own create was applied and then retried
          // (kube/retry.ts): the next check tells.
          continue;
        }
      }
      // Ours: created by us, or handed to us (handOver; its first renewal makes it ours for our own duration).
      if (ours(current, turn)) return current;
      if (ticket === undefined) {
        ticket = (await takeTicket(leases, turn, seconds)) ?? false;
        if (ticket) unwatch = leases.watch?.(namespace, name, (lease) => (lease === undefined || ours(lease, turn) ? wake?.() : undefined));
      }
      const version = String(current.metadata.resourceVersion);
      const heldTurn = `${spec(current).holderIdentity ?? ""}@${spec(current).acquireTime ?? ""}`;
      if (holding?.turn !== heldTurn) holding = { turn: heldTurn, since: now() };
      if (seen?.version !== version) seen = { version, since: now() };
      const expired = now() - seen.since > 1000 * Math.min(spec(current).leaseDurationSeconds ?? seconds, MAX_HONOURED_SECONDS);
      if (expired || now() - holding.since > maxHoldMs) {
        // Not renewed for its whole duration (its holder is gone), or held longer than any write
        // takes (its holder is stuck). Delete that version only (another writer may have passed it
        // over and taken a turn already), then compete again.
        await leases.delete(namespace, name, { resourceVersion: version }).catch((err) => {
          if (!isConflict(err)) throw err;
        });
        // A waiter the turn was handed to and never took it: its ticket would be handed the turn again.
        const passed = spec(current).holderIdentity;
        if (passed !== undefined) await leases.delete(namespace, turnTicketName(turn.service.name, passed), {}).catch(() => undefined);
        seen = undefined;
        continue;
      }
      const pause = sleep(Math.floor(random() * Math.min(maxPoll, poll * 2 ** Math.min(check, 20))));
      await new Promise<void>((resolve) => {
        wake = resolve;
        void pause.then(resolve, resolve);
      });
      wake = undefined;
    }
  } catch (err) {
    tell(opts.onUnqueued, `no turn at ${where} (${oneLine(err)}); writing without one`);
    // A create whose answer never came may have been applied: a Lease naming us that nobody
    // renews would hold every other fork up for its duration. Delete it if it is there and ours.
    if (created) await leases.get(namespace, name).then((mine) => (mine !== undefined && ours(mine, turn) ? release(leases, mine) : undefined)).catch(() => undefined);
    return undefined;
  } finally {
    // Served, or writing without a turn: our place in the queue goes, while the write runs.
    unwatch?.();
    if (ticket) after.push(release(leases, ticket));
  }
}

/**
 * Renews `lease` every third of its duration until stopped. One renewal at a time; a renewal gets
 * one short attempt (kube/clientNode.ts), so a slow server delays the next tick rather than letting
 * the Lease go unrenewed for longer than it lasts. A 409 may be our own renewal, applied although its
 * answer was lost: the Lease is read, and is still ours when it names us.
 */
function renewing(leases: LeaseApi, turn: TurnOf, lease: Lease, opts: TurnOptions): { stop: () => Promise<Lease> } {
  const seconds = opts.leaseSeconds ?? TURN_DEFAULTS.leaseSeconds;
  const now = opts.now ?? performance.now.bind(performance);
  const until = now() + 1000 * (opts.maxHoldSeconds ?? TURN_DEFAULTS.maxHoldSeconds);
  let current = lease;
  let done = false;
  let inFlight: Promise<void> | undefined;
  const renew = async () => {
    // Our own duration: a Lease handed to us came with HANDOFF_SECONDS.
    const next = await leases.replace({ ...current, spec: { ...(current.spec as object), leaseDurationSeconds: seconds, renewTime: microTime(Date.now()) } }).catch(async (err) => {
      if (!isConflict(err)) throw err;
      const seen = await leases.get(String(current.metadata.namespace), current.metadata.name);
      if (seen === undefined || !ours(seen, turn)) throw err;
      return seen;
    });
    current = next;
  };
  const tick = () => {
    if (!done && now() >= until) {
      // Held as long as a turn may be: the write goes on without renewing (it is safe), and the
      // Lease runs out for the next writer.
      done = true;
      tell(opts.onUnqueued, `held the turn at Lease ${current.metadata.namespace}/${current.metadata.name} for ${Math.round((opts.maxHoldSeconds ?? TURN_DEFAULTS.maxHoldSeconds))} s, the longest a turn lasts; writing on without it`);
    }
    if (done || inFlight !== undefined) return;
    inFlight = renew()
      .catch((err) => {
        // Taken over or deleted: not ours any more, so no more renewals; the write goes on without a
        // turn (it is safe). Anything else: try again at the next tick.
        if (isConflict(err) || isNotFound(err)) done = true;
      })
      .finally(() => (inFlight = undefined));
  };
  // Every third of the Lease's duration as it stands: a handed Lease's first renewal comes within a
  // third of HANDOFF_SECONDS, so the others never see it run out under a live holder.
  const every = () => (1000 * Math.min(seconds, Number(spec(current).leaseDurationSeconds ?? seconds))) / 3;
  let timer: ReturnType<typeof setTimeout>;
  const schedule = () => {
    timer = setTimeout(() => {
      tick();
      if (!done) schedule();
    }, every());
    timer.unref?.();
  };
  schedule();
  return {
    // Waits for a renewal in flight, for at most one renewal's time: a PUT of a Lease that does not
    // exist creates it (the Lease strategy allows create on update, pkg/registry/coordination/lease),
    // so a renewal landing after the delete would bring back a Lease nobody renews, and the
    // Service's other forks would wait its duration for it.
    stop: async () => {
      done = true;
      clearTimeout(timer);
      if (inFlight !== undefined) await Promise.race([inFlight, new Promise<void>((resolve) => setTimeout(resolve, every()).unref?.())]);
      return current;
    },
  };
}
