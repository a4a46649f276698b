/**
 * What setkey prints for one message it receives or reads from a file
 * (setkey.c postproc): the kernel's error text, or the SA/SP dump, or
 * nothing for echoes of ADD/UPDATE/FLUSH and the like.
 */
import { MsgType } from '../pfkey/constants.js';
import type { DumpView } from '../pfkey/dump-view.js';
import type { DumpOptions } from './dump-common.js';
import { saDump } from './sadump.js';
import { shortDump } from './shortdump.js';
import { spDump } from './spdump.js';
import { strerror } from '../model/errno.js';

const ENOENT = 2;
const SADB_SASTATE_DEAD = 3;

export interface PostprocOptions extends DumpOptions {
  /** -l: the one-line SA form */
  readonly short: boolean;
}

/** The text of a reply carrying sadb_msg_errno, as postproc prints it (without its trailing ".\n"). */
export function errnoText(type: number, errno: number): string {
  if (errno === ENOENT) {
    switch (type) {
      case MsgType.DELETE:
      case MsgType.GET:
      case MsgType.X_SPDDELETE:
        return 'No entry';
      case MsgType.DUMP:
        return 'No SAD entries';
      case MsgType.X_SPDDUMP:
        return 'No SPD entries';
    }
    // postproc passes a NULL message to printf for other types; glibc prints "(null)"
    return '(null)';
  }
  return strerror(errno);
}

/** The output for one message; `dead` is true when the message is an SA dump entry -a would show. */
export function postproc(v: DumpView, o: PostprocOptions): string {
  const h = v.header;
  if (h.errno !== 0) return `${errnoText(h.type, h.errno)}.\n`;
  switch (h.type) {
    case MsgType.GET:
      return saDump(v, o);
    case MsgType.DUMP: {
      // DEAD SAs are hidden unless -a (postproc looks at whatever pfkey_align found)
      const sa = v.ext('sa');
      if (!o.all && sa && sa.state === SADB_SASTATE_DEAD) return '';
      return o.short ? shortDump(v, o) : saDump(v, o);
    }
    case MsgType.X_SPDGET:
    case MsgType.X_SPDDUMP:
      return spDump(v, o);
  }
  return '';
}
