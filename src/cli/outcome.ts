/**
 * What setkey prints for the messages a command exchanged with its backend,
 * in the reference's order (setkey.c sendkeymsg + postproc): with -v each
 * request and reply as kdebug_sadb shows it, with -H the request's hexdump,
 * then each reply's dump text. A refusal prints the reference's
 * "The result of line N: File exists." on stdout, and a diagnostic on stderr
 * that names the statement, its position and the errno.
 */
import { benign, type Exchange, type Outcome } from '../backends/backend.js';
import type { Command } from '../model/command.js';
import { describeCommand, refusalReason } from '../format/describe.js';
import { hexdump } from '../format/hexdump.js';
import { kdebugSadb } from '../format/kdebug.js';
import { errnoText, postproc, type PostprocOptions } from '../format/postproc.js';
import { errnoName, strerror } from '../model/errno.js';
import { dumpView } from '../pfkey/dump-view.js';
import type { Options } from './args.js';

/** Why a command failed, in words: the backend's reason, the errno's name and text. */
export function refusalText(c: Command, errno: number, why: string | undefined): string {
  const what = why ?? refusalReason(c, errno) ?? strerror(errno).toLowerCase();
  return `${describeCommand(c)}: ${what} (${errnoName(errno)}, ${strerror(errno)})`;
}

function printExchange(x: Exchange, o: Options, po: PostprocOptions, c: Command, write: (s: string) => void): void {
  if (o.verbose) write(kdebugSadb(x.sent, po.platform) + '\n');
  if (o.hexdump) write(hexdump(x.sent));
  for (const r of x.received) {
    if (o.verbose) write(kdebugSadb(r, po.platform) + '\n');
    const v = dumpView(r, po.platform);
    const errno = v.header.errno;
    if (errno !== 0) {
      // postproc's line, on stdout as the reference prints it (for scripts that read it); an empty
      // dump is an answer ("No SAD entries."), anything else is also a diagnostic on stderr
      const where = !benign(c, errno) && c.pos.line > 0 ? `The result of line ${c.pos.endLine}: ` : '';
      write(`${where}${errnoText(v.header.type, errno)}.\n`);
      // sendkeymsg stops reading at an error (postproc returns -1)
      break;
    }
    const text = postproc(v, po);
    if (text) write(text);
    // ... and at the last message of an answer (seq 0): a dump's last entry, or the one reply
    if (v.header.seq === 0) break;
  }
}

/**
 * Print one command's outcome to `write` (stdout) piece by piece; returns
 * the refusal, in one line without position, if the command failed.
 */
export function printOutcome(c: Command, out: Outcome, o: Options, po: PostprocOptions, write: (s: string) => void): string | undefined {
  if (o.verbose || o.hexdump || out.errno !== 0 || c.kind === 'get' || c.kind === 'dump' || c.kind === 'spddump') {
    for (const x of out.exchanges) printExchange(x, o, po, c, write);
  }
  if (out.errno === 0 || benign(c, out.errno)) return undefined;
  return refusalText(c, out.errno, out.why);
}
