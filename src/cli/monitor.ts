/**
 * -x, -xx, -xH: every message exchanged on the backend, printed as setkey.c's
 * promisc() prints them, until interrupted.
 */
import type { Backend, Observed } from '../backends/backend.js';
import { hexdump } from '../format/hexdump.js';
import { kdebugSadb } from '../format/kdebug.js';
import { MsgType } from '../pfkey/constants.js';
import type { Options } from './args.js';
import { dumpOptions } from './dump-options.js';
import type { Io } from './io.js';

/** printdate(): tcpdump's timestamp, `HH:MM:SS.uuuuuu ` (-x) or `sec.usec ` (-xx), then a newline. */
export function printDate(usec: bigint, tflag: number, zoneOffset: number): string {
  const sec = Number(usec / 1000000n);
  const us = String(Number(usec % 1000000n)).padStart(6, '0');
  if (tflag === 1) {
    const s = (((sec + zoneOffset) % 86400) + 86400) % 86400;
    const two = (n: number): string => String(n).padStart(2, '0');
    return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}.${us} \n`;
  }
  return `${sec >>> 0}.${us} \n`;
}

/** One message as setkey -x prints it (setkey.c promisc). */
export function monitorText(m: Observed, o: Options, zoneOffset: number): string {
  let s = printDate(m.usec, o.promiscCount, zoneOffset);
  if (o.hexdump) s += hexdump(m.msg);
  let body: Uint8Array | undefined = m.msg;
  // a message wrapped in an X_PROMISC header (BSD kernels) is shown unwrapped; a bare one not at all
  if (m.msg.length >= 16 && m.msg[1] === MsgType.X_PROMISC) body = m.msg.length > 16 ? m.msg.subarray(16) : undefined;
  if (body) s += kdebugSadb(body, o.platform ?? 'linux') + '\n';
  return s;
}

/** -x, -xx: every message exchanged on the backend, until interrupted. */
export async function runMonitor(io: Io, o: Options, backend: Backend): Promise<number> {
  const tz = dumpOptions(io, o).tz;
  // gmt2local(0): the zone offset taken once at start, as the reference does
  const zone = tz(io.now());
  const signal = io.signal ?? new AbortController().signal;
  await backend.monitor(
    io.pid,
    (m) => {
      io.stdout(monitorText(m, o, zone));
      // as setkey.c's promisc() fflush()es: a monitor piped into another program shows each message as it comes
      io.flush?.();
    },
    signal, () => io.stderr('setkey: the monitor fell behind and missed messages\n'));
  return 0;
}
