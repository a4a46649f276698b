/**
 * What a request handler works with: the transaction, the clock, and the
 * deliveries a Linux PF_KEY socket layer would make (af_key.c
 * pfkey_broadcast; docs/linux-pfkey-semantics.md §7): to the requester, and
 * to promiscuous sockets (a `setkey -x` monitor), which get one extra copy
 * of every broadcast.
 */
import { ALGORITHMS, type AlgKind } from '../model/algorithms.js';
import type { Tx } from './store.js';
import { readU64, u64 } from './u64.js';

/** A message, or how to make it when someone will read it. */
export type Lazy = Uint8Array | (() => Uint8Array);

function made(m: Lazy): Uint8Array {
  return typeof m === 'function' ? m() : m;
}

export class Deliveries {
  /** what the requesting socket reads, in order */
  readonly requester: Uint8Array[] = [];
  /** what a promiscuous socket reads, in order */
  readonly monitor: Uint8Array[] = [];

  /**
   * @param notifications does the requester read broadcast notifications (its
   *   ADD echo...)? A caller that prints none of them says no, and they are not made.
   * @param monitors is a monitor listening?
   */
  constructor(
    private readonly notifications = true,
    private readonly monitors = true,
    /** the requester's answers handed on as they are made instead of kept (a dump of any size in the memory of one) */
    private readonly sink?: (m: Uint8Array) => void,
  ) {}

  /** BROADCAST_ONE to the requester (an answer: always made) */
  one(m: Lazy): void {
    const b = made(m);
    if (this.sink) this.sink(b);
    else this.requester.push(b);
    if (this.monitors) this.monitor.push(b);
  }

  /** BROADCAST_ALL: every socket, promiscuous ones twice */
  all(m: Lazy): void {
    if (!this.notifications && !this.monitors) return;
    const b = made(m);
    if (this.notifications) this.requester.push(b);
    if (this.monitors) this.monitor.push(b, b);
  }

  /** BROADCAST_REGISTERED with no addressee (EXPIRE): setkey registers with satype 0, so only monitors */
  registered(m: Lazy): void {
    if (this.monitors) this.monitor.push(made(m));
  }
}

/**
 * The store's counters (SA order, policy index generator, reqid generator,
 * earliest deadline), held in memory for a session and written once at its
 * end: a large apply would otherwise rewrite them for every request. A
 * refused request does not take its increments back, as the kernel's own
 * generators do not.
 */
export class Counters {
  private readonly cache = new Map<string, bigint>();
  private readonly dirty = new Set<string>();
  constructor(private readonly tx: Tx) {}

  peek(name: string, start: bigint): bigint {
    let v = this.cache.get(name);
    if (v === undefined) {
      v = peekCounter(this.tx, name, start);
      this.cache.set(name, v);
    }
    return v;
  }

  set(name: string, v: bigint): void {
    this.cache.set(name, v);
    this.dirty.add(name);
  }

  /** The counter's value, which is then advanced by one. */
  next(name: string, start: bigint): bigint {
    const v = this.peek(name, start);
    this.set(name, v + 1n);
    return v;
  }

  /** Write what changed into the transaction. */
  flush(): void {
    for (const n of this.dirty) setCounter(this.tx, n, this.cache.get(n)!);
    this.dirty.clear();
  }
}

export interface Ctx {
  readonly tx: Tx;
  readonly counters: Counters;
  /** wall-clock seconds */
  readonly now: bigint;
  readonly out: Deliveries;
  readonly random: () => number;
}

export class KernelError extends Error {
  constructor(
    readonly errno: number,
    readonly why: string,
    /** what the request did before failing stays (Linux leaves a failed GETSPI's larval SA) */
    readonly keep = false,
  ) {
    super(why);
  }
}

export const E = { EPERM: 1, ENOENT: 2, ESRCH: 3, EEXIST: 17, EINVAL: 22, ENOSYS: 38, ELOOP: 40, EPROTONOSUPPORT: 93, EOPNOTSUPP: 95, ENOBUFS: 105 } as const;

export function fail(errno: number, why: string): never {
  throw new KernelError(errno, why);
}

/** A u64 counter kept in the store (8 bytes, little-endian). */
export function peekCounter(tx: Pick<Tx, 'get'>, name: string, start: bigint): bigint {
  const cur = tx.get(`m/${name}`);
  return cur ? readU64(cur) : start;
}

export function setCounter(tx: Tx, name: string, v: bigint): void {
  tx.put(`m/${name}`, u64(v));
}


/**
 * The algorithms Linux af_key installs, by PF_KEY id (xfrm_algo.c: the
 * aalg/ealg/calg lists with pfkey_supported; AEAD ids are never looked up).
 */
export function afKeyAlgorithm(kind: AlgKind, id: number): (typeof ALGORITHMS)[number] | undefined {
  return AF_KEY[kind].get(id);
}

/** The table above, by kind and number (a large apply asks once or twice a request: a search of the registry each time was 0.3 us). */
const AF_KEY: Record<AlgKind, Map<number, (typeof ALGORITHMS)[number]>> = { enc: new Map(), auth: new Map(), comp: new Map() };
for (const a of ALGORITHMS) {
  const id = a.ids.linux;
  // the first of the registry wins, as find() did
  if (id !== undefined && a.xfrm !== undefined && !a.aead && !AF_KEY[a.kind].has(id)) AF_KEY[a.kind].set(id, a);
}
