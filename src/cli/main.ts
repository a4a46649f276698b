/**
 * setkey's entry point: argv -> mode -> run. Exit codes follow the reference
 * (usage and -V exit 1) with our additions: any error makes the status non-zero.
 */
import type { Backend } from '../backends/backend.js';
import { chooseBackend, kernelReach, openBackend } from '../backends/select.js';
import { parseArgs, type Options } from './args.js';
import type { Io } from './io.js';
import { helpText, longVersion, usageText, versionLine } from './usage.js';
import { oneLine } from '../sys/errors.js';

// the modes' code is loaded by the mode that runs (startup time of a one-shot tool)
const modes = (): Promise<typeof import('./modes.js')> => import('./modes.js');
const script = (): Promise<typeof import('./script.js')> => import('./script.js');

/**
 * Where -f's statements go: a kernel (asked for, or found by auto), the
 * engine (asked for, or auto's where there is no kernel), or nowhere (-n,
 * or a choice that is an error, which opening the backend reports).
 */
function scriptGoesTo(io: Io, o: Options): 'kernel' | 'engine' | undefined {
  if (o.noAct) return undefined;
  const choice = chooseBackend(o.backend, o.store, io.env);
  if ('error' in choice) return undefined;
  if (choice.name === 'auto') return (io.kernelReach ?? kernelReach)().reachable ? 'kernel' : 'engine';
  return choice.name === 'embedded' ? 'engine' : 'kernel';
}

/** The script of -f, read in bounded chunks and checked as it comes (script.ts); undefined if it cannot be read. */
async function readInput(io: Io, path: string, o: Options, goesTo = scriptGoesTo(io, o)): Promise<import('./script.js').ScriptInput | undefined> {
  return (await script()).readScript(io, path, { ...o, forKernel: goesTo === 'kernel' });
}

/** Open the backend the options and environment choose; undefined (with the reason on stderr) if it cannot be. */
async function needBackend(io: Io, o: Options, readOnly: boolean, quiet = false): Promise<Backend | undefined> {
  const choice = chooseBackend(o.backend, o.store, io.env);
  if ('error' in choice) {
    io.stderr(`setkey: ${oneLine(choice.error)}\n`);
    return undefined;
  }
  const r = await openBackend(choice, io.env, {
    ...(io.kernelReach ? { reach: io.kernelReach } : {}),
    ...(io.clock ? { clock: io.clock } : {}),
    onLockWait: (holder) => io.stderr(`setkey: waiting for the store's lock${holder ? `, held by ${holder}` : ''}\n`),
    readOnly,
  });
  if (!r.ok) {
    io.stderr(`setkey: ${oneLine(r.message)}\n`);
    return undefined;
  }
  // -v: which backend, and where the state lives, before anything else
  if (o.verbose && !quiet) io.stderr(`setkey: backend ${r.backend.name}: ${oneLine(r.backend.where)}\n`);
  if (r.note && !quiet) io.stderr(`setkey: ${oneLine(r.note)}\n`);
  // a kernel's own PF_KEY speaks its platform's layout (BSD, macOS): read it so, unless told otherwise
  const platform = (r.backend as { platform?: Options['platform'] }).platform;
  if (r.backend.name === 'pfkey' && platform && !o.platform) o.platform = platform;
  return r.backend;
}

/**
 * Run `fn` on the chosen backend. `readOnly` (dumps, flushes, monitors):
 * a store that does not exist is not created; it reads as empty, and a
 * monitor waits for it to appear.
 */
async function withBackend(io: Io, o: Options, fn: (b: Backend) => Promise<number>, readOnly = false): Promise<number> {
  let b = await needBackend(io, o, readOnly);
  if (b && o.mode === 'promisc') b = await untilStoreExists(io, o, b);
  if (!b) return 1;
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

/** A monitor of a store that does not exist yet watches for it (a missing store is never created by reading it). */
async function untilStoreExists(io: Io, o: Options, b: Backend): Promise<Backend | undefined> {
  const signal = io.signal;
  if ((b as { missing?: boolean }).missing) io.stderr(`setkey: ${oneLine(b.where)}; waiting for it\n`);
  while ((b as { missing?: boolean }).missing && !signal?.aborted) {
    await b.close();
    await new Promise<void>((r) => {
      const t = setTimeout(r, 500);
      signal?.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
    });
    const next = await needBackend(io, o, true, true);
    if (!next) return undefined;
    b = next;
  }
  return b;
}

/** --diff / --sync -f FILE (or -c: all of stdin is the declaration). */
async function runConvergeMode(io: Io, o: Options): Promise<number> {
  const flag = `--${o.converge}`;
  if (o.mode !== 'script' && o.mode !== 'stdin') {
    io.stderr(`setkey: ${flag} compares the tables with a file: give -f FILE (or -c for standard input)\n`);
    return 1;
  }
  if (o.noAct) {
    io.stderr(`setkey: ${flag} reads the backend's tables; -n touches no backend (setkey -n -f FILE checks a file)\n`);
    return 1;
  }
  const path = o.mode === 'script' ? o.script! : '-';
  const input = await readInput(io, path, { ...o, noAct: false, hexdump: false });
  if (input === undefined) return 1;
  const { runConverge } = await import('./converge.js');
  // a diff only reads: it never creates a store
  return withBackend(io, o, (b) => runConverge(io, o, input, b), o.converge === 'diff');
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv);
  switch (a.action) {
    case 'usage':
      if (a.error) io.stderr(`setkey: ${a.error}\n`);
      io.stdout(usageText());
      return 1;
    case 'version':
      // -V as the reference: the version line, status 1
      io.stdout(versionLine());
      return 1;
    case 'long-version':
      io.stdout(longVersion());
      return 0;
    case 'help':
      io.stdout(helpText());
      return 0;
    case 'error':
      io.stderr(`setkey: ${a.message}\n`);
      return 1;
  }
  const o = a.options;
  if (o.converge) return runConvergeMode(io, o);
  // --decrypt: the SAD only reads (a store that does not exist is not created)
  if (o.decrypt !== undefined) return (await import('./decrypt.js')).runDecrypt(io, o, (fn) => withBackend(io, o, fn, true));
  if (o.files.length > 0) return (await import('./filemode.js')).runFileMode(io, o);
  switch (o.mode) {
    case 'script': {
      const goesTo = scriptGoesTo(io, o);
      // a large file: checked and loaded in one read, on the backend opened first (the engine; XFRM)
      if (goesTo !== undefined) {
        const { checkAndLoad, loadsWhileChecking, runFile } = await script();
        if (loadsWhileChecking(io, o, o.script!)) {
          const file = o.script!;
          // the engine's load of it loads its SAs on a worker thread: started now, while the store opens (ingest/sa-offload.ts)
          if (goesTo === 'engine') (await import('../ingest/sa-offload.js')).prestartSaWorker(io.env);
          return withBackend(io, o, async (b) => {
            const input = await checkAndLoad(io, o, file, b);
            return input === undefined ? 1 : runFile(io, o, file, input, b);
          });
        }
      }
      const text = await readInput(io, o.script!, o, goesTo);
      if (text === undefined) return 1;
      const file = o.script === '-' ? '<stdin>' : o.script!;
      // -n never touches a backend or a store
      const { runFile } = await script();
      if (o.noAct) return runFile(io, o, file, text);
      return withBackend(io, o, (b) => runFile(io, o, file, text, b));
    }
    case 'stdin': {
      const { runStdin } = await script();
      if (o.noAct) return runStdin(io, o);
      return withBackend(io, o, (b) => runStdin(io, o, b));
    }
    case 'dump': {
      const { runDump } = await modes();
      return withBackend(io, o, (b) => runDump(io, o, b), true);
    }
    case 'flush': {
      const { runFlush } = await modes();
      return withBackend(io, o, (b) => runFlush(io, o, b), true);
    }
    case 'promisc': {
      const { runMonitor } = await import('./monitor.js');
      return withBackend(io, o, (b) => runMonitor(io, o, b), true);
    }
    case 'none':
      io.stdout(usageText());
      return 1;
  }
}
