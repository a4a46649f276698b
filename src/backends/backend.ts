/**
 * The one backend interface. A backend runs commands and answers, for each,
 * with an errno and the PF_KEY messages a Linux PF_KEY socket would have
 * delivered as the reply (dump entries, the SA a `get` found, error
 * replies), so that one set of printers serves every backend, byte for byte.
 */
import type { Command } from '../model/command.js';

export type BackendName = 'embedded' | 'xfrm' | 'pfkey';

export interface Outcome {
  /** 0 when the command was done; else the errno a kernel would give */
  readonly errno: number;
  /** what the backend adds to the errno (a netlink extended ack, the engine's reason) */
  readonly detail?: string;
  /** the reply messages, in order (Linux layout) */
  readonly replies: readonly Uint8Array[];
}

export interface RunOptions {
  /** all commands or none (a file on the embedded engine); else each on its own */
  readonly atomic: boolean;
  /** sadb_msg_pid of the requests */
  readonly pid: number;
}

/** What a backend cannot do: the conformance suite skips with this reason. */
export interface Capabilities {
  /** AEAD ciphers, ChaCha20-Poly1305 */
  readonly aead: boolean;
  readonly esn: boolean;
  /** the largest replay window kept (PF_KEY: 32) */
  readonly replayMax: number;
  readonly atomicBatches: boolean;
}

export interface Backend {
  readonly name: BackendName;
  readonly capabilities: Capabilities;
  /**
   * Run the commands in order. With `atomic`, the first failure stops the
   * run and undoes everything (its outcome is the last one returned).
   */
  run(cmds: readonly Command[], opts: RunOptions): Promise<Outcome[]>;
  /**
   * Every PF_KEY message exchanged from now on, by any process, until the
   * signal aborts (setkey -x). `when` is in microseconds since the epoch.
   */
  monitor(onMessage: (msg: Uint8Array, when: bigint) => void, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class BackendUnavailable extends Error {}
