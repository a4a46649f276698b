/**
 * What setkey prints for the messages a command exchanged with its backend,
 * in the reference's order (setkey.c sendkeymsg + postproc): with -v each
 * request and reply as kdebug_sadb shows it, with -H the request's hexdump,
 * then each reply's dump text. A refusal is not printed as the reference's
 * "The result of line N: ..." on stdout but as a diagnostic on stderr that
 * names the statement, its position and the errno.
 */
import type { Exchange, Outcome } from '../backends/backend.js';
import type { Command } from '../model/command.js';
import { describeCommand } from '../format/describe.js';
import { hexdump } from '../format/hexdump.js';
import { kdebugSadb } from '../format/kdebug.js';
import { errnoText, postproc, type PostprocOptions } from '../format/postproc.js';
import { errnoName, strerror } from '../format/strerror.js';
import { dumpView } from '../pfkey/dump-view.js';
import { benign } from '../backends/embedded.js';
import type { Options } from './args.js';

export interface Printed {
  /** stdout text */
  readonly out: string;
  /** the refusal, if the command failed (one line, no position) */
  readonly error?: string;
}

/** Why a command failed, in words: the backend's reason, the errno's name and text. */
export function refusalText(c: Command, errno: number, why: string | undefined): string {
  const what = why ?? strerror(errno).toLowerCase();
  return `${describeCommand(c)}: ${what} (${errnoName(errno)}${why ? `, ${strerror(errno)}` : ''})`;
}

function exchangeText(x: Exchange, o: Options, po: PostprocOptions, c: Command, showErrors: boolean): string {
  let s = '';
  if (o.verbose) s += kdebugSadb(x.sent, po.platform) + '\n';
  if (o.hexdump) s += hexdump(x.sent);
  for (const r of x.received) {
    if (o.verbose) s += kdebugSadb(r, po.platform) + '\n';
    const v = dumpView(r, po.platform);
    const errno = v.header.errno;
    if (errno !== 0) {
      // an empty dump is an answer, not a failure: "No SAD entries." as the reference prints it
      if (benign(c, errno) || showErrors) s += `${errnoText(v.header.type, errno)}.\n`;
      // sendkeymsg stops reading at an error (postproc returns -1)
      break;
    }
    s += postproc(v, po);
    // ... and at the last message of an answer (seq 0): a dump's last entry, or the one reply
    if (v.header.seq === 0) break;
  }
  return s;
}

/** The text for one command's outcome. */
export function printOutcome(c: Command, out: Outcome, o: Options, po: PostprocOptions): Printed {
  let text = '';
  for (const x of out.exchanges) text += exchangeText(x, o, po, c, false);
  if (out.errno === 0 || benign(c, out.errno)) return { out: text };
  return { out: text, error: refusalText(c, out.errno, out.why) };
}
