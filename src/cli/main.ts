/**
 * setkey's entry point: argv -> mode -> run. Exit codes follow the reference
 * (usage and -V exit 1) with our additions: any error makes the status non-zero.
 */
import { chooseBackend, openBackend } from '../backends/select.js';
import { parseArgs, type Options } from './args.js';
import type { Io } from './io.js';
import { runFileMode } from './filemode.js';
import { runFile, runStdin } from './script.js';
import { helpText, usageText, versionLine } from './usage.js';

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    default:
      return (e as Error).message;
  }
}

async function readInput(io: Io, path: string): Promise<string | undefined> {
  if (path === '-') {
    const parts: Buffer[] = [];
    for await (const c of io.stdin()) parts.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c));
    return Buffer.concat(parts).toString('latin1');
  }
  try {
    // latin1 keeps every byte (quoted keys are raw bytes, as in the reference)
    const b = await io.readFile(path);
    return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('latin1');
  } catch (e) {
    io.stderr(`setkey: ${path}: ${errnoText(e)}\n`);
    return undefined;
  }
}

/** Modes that talk to a backend need one; none is available yet. */
function needBackend(io: Io, o: Options): boolean {
  const choice = chooseBackend(o.backend, o.store, io.env);
  if ('error' in choice) {
    io.stderr(`setkey: ${choice.error}\n`);
    return false;
  }
  const r = openBackend(choice);
  io.stderr(`setkey: ${r.message}\n`);
  return false;
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
  if (o.files.length > 0) return runFileMode(io, o);
  switch (o.mode) {
    case 'script': {
      if (!o.noAct && !needBackend(io, o)) return 1;
      const text = await readInput(io, o.script!);
      if (text === undefined) return 1;
      return runFile(io, o, o.script === '-' ? '<stdin>' : o.script!, text);
    }
    case 'stdin':
      if (!o.noAct && !needBackend(io, o)) return 1;
      return runStdin(io, o);
    case 'dump':
    case 'flush':
    case 'promisc':
      return needBackend(io, o) ? 0 : 1;
    case 'none':
      io.stdout(usageText());
      return 1;
  }
}
