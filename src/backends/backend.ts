/**
 * The one backend interface. A backend runs commands and answers, for each,
 * with an errno and the PF_KEY messages exchanged for it: what was sent and
 * what a Linux PF_KEY socket would have read back (dump entries, the SA a
 * `get` found, error replies), so that one set of printers serves every
 * backend, byte for byte.
 */
import type { SaOffloadFactory } from '../engine/bulk-load.js';
import type { Command } from '../model/command.js';
import type { SystemDb } from '../syntax/sysdb.js';
import type { Json } from '../format/json.js';
import type { SaFields } from '../pfkey/sa-fields.js';

export type BackendName = 'embedded' | 'xfrm' | 'pfkey';

export interface Exchange {
  /** one request */
  readonly sent: Uint8Array;
  /** the messages read back for it, in order (Linux layout) */
  readonly received: readonly Uint8Array[];
  /** for each received message, what the backend knows beyond PF_KEY (XFRM: replay window, ESN, marks...) */
  readonly extras?: readonly (Readonly<Record<string, Json>> | undefined)[];
}

export interface Outcome {
  /** 0 when the command was done; else the errno a kernel would give */
  readonly errno: number;
  /** what the backend adds to the errno (a netlink extended ack, the engine's reason); never key material */
  readonly why?: string;
  readonly exchanges: readonly Exchange[];
  /**
   * A dump handed on as it came (RunOptions.onDumped) that the kernel says
   * was interrupted: the table changed while it was walked, so an entry may
   * be missing or shown twice (ip(8) warns of the same).
   */
  readonly interrupted?: boolean;
}

export interface RunOptions {
  /** all commands or none (a file on the embedded engine); else each on its own */
  readonly atomic: boolean;
  /** sadb_msg_pid of the requests */
  readonly pid: number;
  /**
   * Each command's outcome as soon as it is known (then run() keeps none and
   * resolves to []): a large file's replies need not all be held at once.
   */
  readonly onOutcome?: (o: Outcome, cmd: Command) => void;
  /**
   * The caller reads only answers (what get, dump, getspi return), not the
   * notifications a request also brings back: they need not be made.
   */
  readonly quiet?: boolean;
  /**
   * A dump's messages, handed on one by one as they come (the refusal of an
   * empty one too) instead of kept in the outcome: a table of any size is
   * printed in the memory of one entry. Backends that cannot stream keep
   * them in the outcome as usual.
   */
  readonly onDumped?: (msg: Uint8Array, cmd: Command, extras?: { readonly [key: string]: Json }) => void;
  /**
   * With onDumped: a dumped SA as its printed fields, for a backend that
   * can read them with no PF_KEY message made (XFRM). True: taken (its
   * message is not made); false: the backend hands on its message to
   * onDumped as ever. The fields are read again for the next SA.
   */
  readonly onDumpedSa?: (f: SaFields, cmd: Command) => boolean;
}

/** What a backend cannot do: the conformance suite skips with this reason. */
export interface Capabilities {
  /** AEAD ciphers, ChaCha20-Poly1305 */
  readonly aead: boolean;
  readonly esn: boolean;
  /** the largest replay window kept (PF_KEY: 32) */
  readonly replayMax: number;
  /** a run with `atomic` is all or nothing */
  readonly atomicBatches: boolean;
}

/** One message a promiscuous socket read, and when (microseconds since the epoch). */
export interface Observed {
  readonly msg: Uint8Array;
  readonly usec: bigint;
}

export interface Backend {
  readonly name: BackendName;
  readonly capabilities: Capabilities;
  /** where the state lives, for messages ("the store at ...", "the kernel") */
  readonly where: string;
  /**
   * Run the commands in order: an array, or chunks as they come (a large
   * file is read statement by statement, never held whole). With `atomic`,
   * the first failure stops the run and undoes everything (its outcome is
   * the last one returned).
   */
  run(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, opts: RunOptions): Promise<Outcome[]>;
  /**
   * setkey -x: every PF_KEY message exchanged from now on, by any process,
   * until the signal aborts.
   */
  /** `onLoss`: messages were lost (the reader fell behind, as a socket's buffer overflows) */
  monitor(pid: number, onMessage: (m: Observed) => void, signal: AbortSignal, onLoss?: () => void): Promise<void>;
  /**
   * A file's text loaded at once, where the backend can (the embedded
   * engine: src/ingest/bulk.ts): true when it was applied whole, false when
   * the load was given up with nothing of it kept (the file is then to be
   * applied with run(), which reports as ever).
   */
  load?(text: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, opts: LoadOptions): Promise<boolean>;
  /**
   * A file loaded as its check reads it (one pass, not two): `check` reads
   * the file, handing `take` each statement it finds clean, where it stands
   * in the text, and says at its end whether what it read is to be kept
   * (it found no error and nothing the load cannot take). True when the
   * file was applied whole; false when nothing of it was kept (`take` has
   * quietly ignored everything from the first statement the load does not
   * read, and the file is then applied with run()). Where `defers` says,
   * `take` accepts an `add` or an `spdadd` the check did not check
   * (`unchecked`): the load checks it, and is given up if it is not clean
   * (the check's result then is not the file's: it is read again). `text`
   * is told of each piece of the file before its statements, with its
   * bytes (valid until the next piece).
   */
  loadChecking?(check: LoadCheck, opts: LoadOptions): Promise<boolean>;
  close(): Promise<void>;
}

/** What a load checks itself, of the statements a check hands it (Backend.loadChecking). */
export interface Defers {
  readonly adds: boolean;
  readonly spdadds: boolean;
}

export const NO_DEFERS: Defers = { adds: false, spdadds: false };

/** The check of a file that feeds a load as it reads (Backend.loadChecking): whether the file is to be kept. */
export type LoadCheck = (take: (src: string, start: number, semi: number, unchecked: boolean) => void, text: (src: string, bytes?: Uint8Array) => void, paced: () => Promise<void> | undefined, defers: Defers) => Promise<boolean>;

export interface LoadOptions {
  readonly sys: SystemDb;
  /** the file's size in bytes, where known (a load that holds its requests is not tried for a file too large to hold) */
  readonly size?: number;
  /** inbound policies get their forward copy (model/rfc-mode.ts) */
  readonly rfcMode: boolean;
  /** statements read so far, a chunk of text at a time (progress; the caller's count) */
  readonly onStatements?: (n: number) => void;
  /** how to load the SAs apart (a worker thread: src/ingest/sa-offload.ts), where a load fed by the check may */
  readonly offloadSas?: SaOffloadFactory;
}

export class BackendUnavailable extends Error {}

/** Is a refusal the normal answer of a query (an empty dump: ENOENT), not a failure? */
export function benign(c: Command, errno: number): boolean {
  return errno === 2 && (c.kind === 'dump' || c.kind === 'spddump');
}

/** Does this outcome end an atomic run (a refusal that is not an empty dump)? */
export function endsRun(c: Command, o: Outcome, opts: RunOptions): boolean {
  return opts.atomic && o.errno !== 0 && !benign(c, o.errno);
}

/** Chunks as they come, joined until each holds at least `n` commands (the last may hold fewer). */
export async function* gathered(chunks: AsyncIterable<readonly Command[]> | Iterable<readonly Command[]>, n: number): AsyncGenerator<readonly Command[]> {
  let held: Command[] = [];
  for await (const chunk of chunks) {
    if (held.length === 0 && chunk.length >= n) {
      yield chunk;
      continue;
    }
    for (const c of chunk) held.push(c);
    if (held.length >= n) {
      yield held;
      held = [];
    }
  }
  if (held.length) yield held;
}

/** run()'s commands as chunks, whether an array or chunks as they come. */
export function chunksOf(cmds: readonly Command[] | AsyncIterable<readonly Command[]>): AsyncIterable<readonly Command[]> | Iterable<readonly Command[]> {
  return Array.isArray(cmds) ? [cmds as readonly Command[]] : (cmds as AsyncIterable<readonly Command[]>);
}
