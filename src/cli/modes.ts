/**
 * The modes that only talk to a backend: -D / -DP (dump, -l looping), -F /
 * -FP (flush) and -x (monitor), printed as setkey.c's sendkeymsg, postproc
 * and promisc do.
 */
import type { Backend, Observed } from '../backends/backend.js';
import { NO_POS, type Command } from '../model/command.js';
import { hexdump } from '../format/hexdump.js';
import { kdebugSadb } from '../format/kdebug.js';
import { shortdumpHeader } from '../format/shortdump.js';
import { MsgType } from '../pfkey/constants.js';
import { dumpView, type DumpView } from '../pfkey/dump-view.js';
import type { Json } from '../format/json.js';
import type { PostprocOptions } from '../format/postproc.js';
import type { Options } from './args.js';
import { dumpPrinter, render } from './filemode.js';
import { dumpOptions } from './dump-options.js';
import type { Io } from './io.js';
import { printOutcome, refusalText } from './outcome.js';
import { benign } from '../backends/backend.js';
import { errnoText, postproc } from '../format/postproc.js';

function postprocOptions(io: Io, o: Options): PostprocOptions {
  return { ...dumpOptions(io, o), short: o.forever };
}

function sleep(io: Io, ms: number): Promise<void> {
  if (io.sleep) return io.sleep(ms);
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    io.signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * A dump's text as its messages come, as printExchange prints them: each
 * entry's text; an error reply's line ends it (an empty dump's "No SAD
 * entries."), as does the entry numbered 0 (the last).
 */
function textStream(po: PostprocOptions, write: (s: string) => void): (m: Uint8Array) => void {
  let done = false;
  return (m) => {
    if (done) return;
    const v = dumpView(m, po.platform);
    if (v.header.errno !== 0) {
      write(`${errnoText(v.header.type, v.header.errno)}.\n`);
      done = true;
      return;
    }
    const text = postproc(v, po);
    if (text) write(text);
    if (v.header.seq === 0) done = true;
  };
}

/** One dump printed as it streams from the backend (a table of any size in the memory of one entry). */
async function streamDump(io: Io, o: Options, backend: Backend, cmd: Command): Promise<number> {
  const po = postprocOptions(io, o);
  const write = (t: string): void => io.stdout(t);
  const fmt = o.format ?? 'setkey';
  const extra = new Map<DumpView, { readonly [key: string]: Json }>();
  const printer = fmt === 'setkey' ? undefined : dumpPrinter(o, po, write, (v) => extra.get(v));
  const text = textStream(po, write);
  const push = (m: Uint8Array, e?: { readonly [key: string]: Json }): void => {
    if (!printer) return text(m);
    const v = dumpView(m, po.platform);
    if (v.header.errno !== 0) return;
    if (e) extra.set(v, e);
    printer.push(v);
    if (e) extra.delete(v);
  };
  const [out] = await backend.run([cmd], { atomic: false, pid: io.pid, onDumped: (m) => push(m) });
  // a backend that does not stream keeps the messages in the outcome
  for (const x of out!.exchanges) x.received.forEach((r, i) => push(r, x.extras?.[i]));
  printer?.end();
  if (out!.errno !== 0 && !benign(cmd, out!.errno)) {
    io.stderr(`setkey: ${refusalText(cmd, out!.errno, out!.why)}\n`);
    return 1;
  }
  return 0;
}

/** -D, -DP: one dump (or, with -l, one every second until interrupted). */
export async function runDump(io: Io, o: Options, backend: Backend): Promise<number> {
  const cmd: Command = o.policy ? { kind: 'spddump', pos: NO_POS } : { kind: 'dump', pos: NO_POS, satype: 0 };
  // -v and -H show the request first, -l loops: those read the whole answer
  if (!o.verbose && !o.hexdump && !o.forever) return streamDump(io, o, backend, cmd);
  for (;;) {
    const po = postprocOptions(io, o);
    const [out] = await backend.run([cmd], { atomic: false, pid: io.pid });
    if (o.forever && !o.policy) io.stdout(shortdumpHeader());
    if ((o.format ?? 'setkey') !== 'setkey') {
      // script and JSON print the entries only; an empty table is an empty document
      const extra = new Map<DumpView, { readonly [key: string]: Json }>();
      const views: DumpView[] = [];
      for (const x of out!.exchanges) {
        x.received.forEach((r, i) => {
          const v = dumpView(r, po.platform);
          if (v.header.errno !== 0) return;
          views.push(v);
          const e = x.extras?.[i];
          if (e) extra.set(v, e);
        });
      }
      render(views, o, po, (t) => io.stdout(t), (v) => extra.get(v));
    } else {
      const error = printOutcome(cmd, out!, o, po, (t) => io.stdout(t));
      if (error) {
        io.stderr(`setkey: ${error}\n`);
        return 1;
      }
    }
    if (!o.forever) return 0;
    if (io.signal?.aborted) return 0;
    await sleep(io, 1000);
    if (io.signal?.aborted) return 0;
  }
}

/** -F, -FP: silent on success. */
export async function runFlush(io: Io, o: Options, backend: Backend): Promise<number> {
  const cmd: Command = o.policy ? { kind: 'spdflush', pos: NO_POS } : { kind: 'flush', pos: NO_POS, satype: 0 };
  const [out] = await backend.run([cmd], { atomic: false, pid: io.pid });
  const error = printOutcome(cmd, out!, o, postprocOptions(io, o), (t) => io.stdout(t));
  if (error) {
    io.stderr(`setkey: ${error}\n`);
    return 1;
  }
  return 0;
}

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
