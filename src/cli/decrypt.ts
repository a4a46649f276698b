/**
 * `setkey --decrypt CAPTURE [-f FILE ...] [-o OUT]`: the SAD of the -f files
 * (parsed, not applied) or of the backend (read with its keys) opens the
 * capture's IPsec packets (src/decrypt/). The opened capture goes to OUT
 * (written beside it and renamed into place when complete, owner-only: it
 * holds what the keys protected) or to standard output; the summary goes to
 * stderr. Exit 0: every IPsec packet of a known SA opened; 2: some did not;
 * 1: trouble (nothing is left at OUT).
 */
import { closeSync, fstatSync, openSync, renameSync, statSync, unlinkSync, constants as C } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { getCiphers } from 'node:crypto';
import type { Backend } from '../backends/backend.js';
import { CaptureError } from '../capture/errors.js';
import { decryptCapturePaced } from '../decrypt/run.js';
import { allOpened, reportJson, reportText } from '../decrypt/report.js';
import { SaTable } from '../decrypt/sad.js';
import { saOfDumped } from '../decrypt/backend-sas.js';
import type { Json } from '../format/json.js';
import type { Platform } from '../model/algorithms.js';
import { NO_POS } from '../model/command.js';
import type { SaParams } from '../model/sa.js';
import { SaType } from '../model/tables.js';
import { escapeControls } from '../syntax/redact.js';
import { describeErrno, EnvironmentError } from '../sys/errors.js';
import { loadOpenSsl } from '../sys/libcrypto.js';
import type { Options } from './args.js';
import { isatty, type Io } from './io.js';
import { startProgress } from './progress.js';
import { WriteBehind } from './write-behind.js';
import { declarationCommands, readScript } from './script.js';

const errnoMessage = (e: unknown): string => describeErrno(String((e as { code?: unknown }).code ?? (e as Error).message));

type WithBackend = (fn: (b: Backend) => Promise<number>) => Promise<number>;

/** The SAs the -f files add (later statements for the same SA win, as `update` would). */
async function sasOfFiles(io: Io, o: Options): Promise<SaParams[] | undefined> {
  const sas: SaParams[] = [];
  for (const path of o.scripts ?? []) {
    const input = await readScript(io, path, { noAct: false, hexdump: false });
    if (!input) return undefined;
    const cmds = await declarationCommands(io, o, input, 'nothing decrypted');
    if (!cmds) return undefined;
    for (const c of cmds) if (c.kind === 'add' || c.kind === 'update') sas.push(c.sa);
  }
  return sas;
}

/** Where the opened capture goes: a temporary file beside OUT (renamed at the end), or standard output. */
interface Output {
  readonly fd: number;
  readonly where: string;
  commit(): void;
  abandon(): void;
  /** ends the watch for signals (removeOnSignal), once the file is committed or abandoned */
  release(): void;
}

const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * While the opened capture is written to its temporary file, a signal that
 * would end setkey first removes the file (it holds what the keys
 * protected, and nothing is to be left beside OUT), then is raised again, so
 * that setkey ends by it as it would have (status 128 + the signal). The
 * handlers go in before the file is made: a signal between the two would
 * otherwise end setkey the default way, the file left behind. Returns the
 * undoing of the handlers.
 */
function removeOnSignal(path: string): () => void {
  const off = (): void => {
    for (const sig of ENDING_SIGNALS) process.off(sig, on);
  };
  const on = (sig: NodeJS.Signals): void => {
    off();
    try {
      // by path, not by descriptor: the file may not be open yet, or a pool thread may be writing to it
      unlinkSync(path);
    } catch {
      // not made yet, or gone already: nothing is left either way
    }
    process.kill(process.pid, sig);
  };
  for (const sig of ENDING_SIGNALS) process.on(sig, on);
  return off;
}

/**
 * watchSignals: remove the temporary file if a signal ends setkey (only for
 * a capture in a regular file: reading a pipe can block, and a handler would
 * then keep Ctrl-C from ending setkey until input came; with a pipe, Ctrl-C
 * ends its writer too, and the capture then ends).
 */
function openOutput(o: Options, input: { dev: number; ino: number }, watchSignals: boolean): Output | string {
  const nothing = (): void => undefined;
  if (o.output === undefined || o.output === '-') {
    // the descriptor itself: process.stdout would make a stream of it (and a pipe non-blocking) for one test
    if (isatty(1)) return 'the opened capture is binary: give -o FILE, or send standard output to a file or a pipe';
    return { fd: 1, where: 'standard output', commit: nothing, abandon: nothing, release: nothing };
  }
  const out = o.output;
  try {
    const st = statSync(out);
    if (st.dev === input.dev && st.ino === input.ino) return `-o ${escapeControls(out)} is the capture being read`;
    if (st.isDirectory()) return `-o ${escapeControls(out)} is a directory: name the file to write`;
    // a device, a FIFO or a socket (-o /dev/null, a pipe to a reader) is written to as it is: a file renamed
    // over it would replace the device itself
    if (!st.isFile()) return openSpecial(out);
  } catch {
    // no such file yet: the usual case
  }
  const tmp = join(dirname(out), `.${basename(out)}.setkey-${process.pid}`);
  const release = watchSignals ? removeOnSignal(tmp) : nothing;
  let fd: number;
  try {
    // owner-only: the file holds what the keys protected
    fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  } catch (e) {
    release();
    return `cannot write ${escapeControls(out)}: ${errnoMessage(e)}`;
  }
  return {
    fd,
    where: escapeControls(out),
    release,
    commit: () => {
      closeSync(fd);
      try {
        renameSync(tmp, out);
      } catch (e) {
        // nothing half-done left behind: the temporary file goes, and the message names OUT
        unlinkSync(tmp);
        throw new EnvironmentError(`cannot write ${escapeControls(out)}: ${errnoMessage(e)}; nothing written`);
      }
    },
    abandon: () => {
      closeSync(fd);
      unlinkSync(tmp);
    },
  };
}

/** OUT that is not a regular file: opened and written as it is, nothing renamed or removed. */
function openSpecial(out: string): Output | string {
  let fd: number;
  try {
    fd = openSync(out, C.O_WRONLY);
  } catch (e) {
    return `cannot write ${escapeControls(out)}: ${errnoMessage(e)}`;
  }
  const close = (): void => closeSync(fd);
  return { fd, where: escapeControls(out), commit: close, abandon: close, release: () => undefined };
}

export async function runDecrypt(io: Io, o: Options, withBackend: WithBackend): Promise<number> {
  if (o.files.length) {
    io.stderr(`setkey: --decrypt reads one capture; '${escapeControls(o.files[0]!)}' is one too many (SAs come from -f FILE)\n`);
    return 1;
  }
  if (o.scripts?.length) {
    const sas = await sasOfFiles(io, o);
    return sas ? decryptWith(io, o, sas) : 1;
  }
  // no -f: the backend's SAD, read with its keys (a store that does not exist reads as empty)
  return withBackend(async (b) => decryptWith(io, o, await sasOfBackend(b, io, o)));
}

/** The SAs of a backend's dump, with what only XFRM can say (ESN, ICV lengths...) put back from its extras. */
async function sasOfBackend(b: Backend, io: Io, o: Options): Promise<SaParams[]> {
  const platform = o.platform ?? (b as { platform?: Platform }).platform ?? 'linux';
  const sas: SaParams[] = [];
  const take = (m: Uint8Array, x?: { readonly [key: string]: Json }): void => {
    const sa = saOfDumped(m, x, platform);
    if (sa) sas.push(sa);
  };
  const [out] = await b.run([{ kind: 'dump', pos: NO_POS, satype: 0 }], { atomic: false, pid: io.pid, quiet: true, onDumped: (m, _c, x) => take(m, x) });
  for (const ex of out?.exchanges ?? []) ex.received.forEach((m, i) => take(m, ex.extras?.[i]));
  return sas;
}

/** Ciphers Node's OpenSSL 3 has only in its legacy provider, which a process loads at its start or never. */
const LEGACY = new Set(['blowfish-cbc', 'cast128-cbc']);
const LEGACY_FLAG = '--openssl-legacy-provider';

/**
 * When an SA needs Blowfish or CAST and this process lacks the legacy
 * provider, the same command again in a node that has it (its status), or
 * undefined to go on here (the SA is then said to be undecryptable).
 */
function rerunWithLegacy(io: Io, o: Options, sas: readonly SaParams[]): number | undefined {
  const needs = sas.some((sa) => sa.satype === SaType.ESP && typeof sa.enc?.alg === 'string' && LEGACY.has(sa.enc.alg));
  if (!needs || getCiphers().includes('bf-cbc') || process.execArgv.includes(LEGACY_FLAG) || io.env['SETKEY_LEGACY_RERUN'] === '1') return undefined;
  // a script read from standard input cannot be read twice; a test's in-memory Io has no process to re-run
  if ((o.scripts ?? []).includes('-') || io.pid !== process.pid) return undefined;
  const r = spawnSync(process.execPath, [LEGACY_FLAG, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, SETKEY_LEGACY_RERUN: '1' },
  });
  // 9: this node knows no such option; go on without (the SAs are said undecryptable)
  if (r.error || r.status === 9) return undefined;
  return r.status ?? 1;
}

async function decryptWith(io: Io, o: Options, sas: readonly SaParams[]): Promise<number> {
  const again = rerunWithLegacy(io, o, sas);
  if (again !== undefined) return again;
  const name = escapeControls(o.decrypt!);
  // Node's OpenSSL without a JS object per packet, when koffi is there (src/sys/libcrypto.ts); else node:crypto
  const openssl = await loadOpenSsl(io.env);
  const table = new SaTable(sas);
  if (table.size === 0) io.stderr('setkey: --decrypt: the SAD holds no ESP, AH or IPComp SA; every packet is copied as it is\n');
  // '-': the capture comes on standard input (tcpdump -w - | setkey --decrypt - ...); a FIFO is opened as
  // tcpdump -r opens one, waiting for its writer
  let fd: number;
  try {
    fd = o.decrypt === '-' ? 0 : openSync(o.decrypt!, C.O_RDONLY);
  } catch (e) {
    io.stderr(`setkey: cannot read ${name}: ${errnoMessage(e)}\n`);
    return 1;
  }
  try {
    const st = fstatSync(fd);
    const out = openOutput(o, st, st.isFile() && io.pid === process.pid);
    if (typeof out === 'string') {
      io.stderr(`setkey: ${out}\n`);
      return 1;
    }
    const progress = startProgress(io.progress, `decrypting ${name} (packets)`, { printsToStdout: out.fd === 1 });
    let report;
    // records gathered into 4 MiB writes done by another thread while the next packets open (write-behind.ts)
    const w = new WriteBehind(out.fd);
    try {
      report = await decryptCapturePaced(fd, table, w, progress ? () => progress.step() : undefined, openssl);
      await w.finish();
    } catch (e) {
      await w.settle();
      out.abandon();
      out.release();
      if (!(e instanceof CaptureError)) throw e;
      io.stderr(`setkey: ${name}: ${e.message}; nothing written\n`);
      return 1;
    } finally {
      progress?.end();
    }
    try {
      out.commit();
    } finally {
      // after the rename: until it, a signal still removes the file
      out.release();
    }
    io.stderr(o.format === 'json' ? reportJson(report, out.where) : reportText(report, out.where));
    return allOpened(report) ? 0 : 2;
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}
