/** Process entry: real stdio, exit with main()'s status once output is flushed. */
import { main } from './main.js';
import { processIo } from './io.js';

const io = processIo();
main(process.argv.slice(2), io).then(
  (code) => {
    io.flush();
    process.exitCode = code;
  },
  (e: unknown) => {
    io.flush();
    process.stderr.write(`setkey: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
