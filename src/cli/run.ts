/**
 * Process entry: real stdio, exit with main()'s status once output is
 * flushed. Whatever escapes main() becomes one line on stderr (exit 1 for a
 * failure of the environment, 70 for a bug); the stack trace only with
 * SETKEY_DEBUG=1.
 */
import { main } from './main.js';
import { processIo } from './io.js';
import { failureLine, oneLine } from '../sys/errors.js';

const io = processIo();

function die(e: unknown): void {
  try {
    io.flush();
  } catch {
    // stdout is gone; the message still goes to stderr
  }
  const { line, status } = failureLine(e);
  io.progress?.active?.erase();
  process.stderr.write(`setkey: ${oneLine(line)}\n`);
  if (process.env['SETKEY_DEBUG'] === '1' && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(status);
}

// standard output is written to its descriptor (io.ts writeAllSync: a reader gone away ends setkey quietly
// with 141, as SIGPIPE ends a C tool); process.stdout, a stream that costs 2 ms to make, is never made
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

main(process.argv.slice(2), io).then((code) => {
  io.flush();
  process.exitCode = code;
}, die);
