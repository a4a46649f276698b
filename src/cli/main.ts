/**
 * setkey's entry point: argv -> mode -> run. Exit codes follow the reference
 * (usage and -V exit 1) with our additions: any error makes the status non-zero.
 */
import type { Backend } from '../backends/backend.js';
import { chooseBackend, openBackend } from '../backends/select.js';
import { parseArgs, type Options } from './args.js';
import type { Io } from './io.js';
import { helpText, usageText, versionLine } from './usage.js';

// the modes' code is loaded by the mode that runs (startup time of a one-shot tool)
const modes = (): Promise<typeof import('./modes.js')> => import('./modes.js');
const script = (): Promise<typeof import('./script.js')> => import('./script.js');

/** The script of -f, read in bounded chunks and checked as it comes (script.ts); undefined if it cannot be read. */
async function readInput(io: Io, path: string, o: Options): Promise<import('./script.js').ScriptInput | undefined> {
  return (await script()).readScript(io, path, o);
}

/** Open the backend the options and environment choose; undefined (with the reason on stderr) if it cannot be. */
async function needBackend(io: Io, o: Options): Promise<Backend | undefined> {
  const choice = chooseBackend(o.backend, o.store, io.env);
  if ('error' in choice) {
    io.stderr(`setkey: ${choice.error}\n`);
    return undefined;
  }
  const r = await openBackend(choice, io.env, { ...(io.kernelReach ? { reach: io.kernelReach } : {}), ...(io.clock ? { clock: io.clock } : {}) });
  if (!r.ok) {
    io.stderr(`setkey: ${r.message}\n`);
    return undefined;
  }
  if (r.note) io.stderr(`setkey: ${r.note}\n`);
  // a kernel's own PF_KEY speaks its platform's layout (BSD, macOS): read it so, unless told otherwise
  const platform = (r.backend as { platform?: Options['platform'] }).platform;
  if (r.backend.name === 'pfkey' && platform && !o.platform) o.platform = platform;
  return r.backend;
}

async function withBackend(io: Io, o: Options, fn: (b: Backend) => Promise<number>): Promise<number> {
  const b = await needBackend(io, o);
  if (!b) return 1;
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv);
  switch (a.action) {
    case 'usage':
      if (a.error) io.stderr(`setkey: ${a.error}\n`);
      io.stdout(usageText());
      return 1;
    case 'version':
      io.stdout(versionLine());
      return 1;
    case 'help':
      io.stdout(helpText());
      return 0;
    case 'error':
      io.stderr(`setkey: ${a.message}\n`);
      return 1;
  }
  const o = a.options;
  if (o.files.length > 0) return (await import('./filemode.js')).runFileMode(io, o);
  switch (o.mode) {
    case 'script': {
      const text = await readInput(io, o.script!, o);
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
      return withBackend(io, o, (b) => runDump(io, o, b));
    }
    case 'flush': {
      const { runFlush } = await modes();
      return withBackend(io, o, (b) => runFlush(io, o, b));
    }
    case 'promisc': {
      const { runMonitor } = await modes();
      return withBackend(io, o, (b) => runMonitor(io, o, b));
    }
    case 'none':
      io.stdout(usageText());
      return 1;
  }
}
