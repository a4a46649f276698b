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

// a reader that went away (setkey -D | head): end quietly, as a C tool killed by SIGPIPE does
process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(141) : die(e)));
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

main(process.argv.slice(2), io).then((code) => {
  io.flush();
  process.exitCode = code;
}, die);
