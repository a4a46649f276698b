/**
 * The modes that only talk to a backend: -D / -DP (dump, -l looping), -F /
 * -FP (flush) and -x (monitor), printed as setkey.c's sendkeymsg, postproc
 * and promisc do.
 */
import type { Backend, Outcome } from '../backends/backend.js';
import { NO_POS, type Command } from '../model/command.js';
import { dumpView, type DumpView } from '../pfkey/dump-view.js';
import type { SaFields } from '../pfkey/sa-fields.js';
import type { Json } from '../format/json.js';
import type { PostprocOptions } from '../format/postproc.js';
import type { Options } from './args.js';
import { dumpOptions } from './dump-options.js';
import { bytesSink, type Io } from './io.js';
import { startProgress } from './progress.js';
import { benign } from '../backends/backend.js';
import { errnoText, postproc } from '../format/postproc.js';
import { DumpTextWriter } from '../format/dump-text-bytes.js';

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
 * entries."), as does the entry numbered 0 (the last). The common SA and
 * policy are written as bytes (format/dump-text-bytes.ts), the rest as
 * text, in order.
 */
function textStream(io: Io, po: PostprocOptions, write: (s: string) => void): { push(m: Uint8Array): void; pushSa(f: SaFields): boolean; end(): void } {
  let done = false;
  const fast = new DumpTextWriter(po, bytesSink(write, io.stdoutBytes?.bind(io)));
  return {
    // an SA given by its fields (no message made): printed as its message would be, or declined (false)
    pushSa: (f) => {
      if (done) return true;
      const seq = fast.takeFields(f);
      if (seq === 0) done = true;
      return seq >= 0;
    },
    push: (m) => {
      if (done) return;
      const seq = fast.take(m);
      if (seq >= 0) {
        if (seq === 0) done = true;
        return;
      }
      fast.flush();
      const v = dumpView(m, po.platform);
      if (v.header.errno !== 0) {
        write(`${errnoText(v.header.type, v.header.errno)}.\n`);
        done = true;
        return;
      }
      const text = postproc(v, po);
      if (text) write(text);
      if (v.header.seq === 0) done = true;
    },
    end: () => fast.flush(),
  };
}

/** One dump printed as it streams from the backend (a table of any size in the memory of one entry). */
async function streamDump(io: Io, o: Options, backend: Backend, cmd: Command): Promise<number> {
  const po = postprocOptions(io, o);
  const write = (t: string): void => io.stdout(t);
  const fmt = o.format ?? 'setkey';
  const extra = new Map<DumpView, { readonly [key: string]: Json }>();
  // each printer's code is loaded by the format that needs it (startup time of a one-shot tool)
  const printer = fmt === 'setkey' ? undefined : (await import('./filemode.js')).dumpPrinter(o, po, write, (v) => extra.get(v), io.stdoutBytes?.bind(io));
  const text = textStream(io, po, write);
  const push = (m: Uint8Array, e?: { readonly [key: string]: Json }): void => {
    if (!printer) return text.push(m);
    if (!e && printer.take?.(m)) return;
    const v = dumpView(m, po.platform);
    if (v.header.errno !== 0) return;
    if (e) extra.set(v, e);
    printer.push(v);
    if (e) extra.delete(v);
  };
  const progress = startProgress(io.progress, cmd.kind === 'spddump' ? 'dumping policies' : 'dumping SAs', { printsToStdout: true });
  let out: Outcome | undefined;
  try {
    [out] = await backend.run([cmd], {
      atomic: false,
      pid: io.pid,
      onDumped: (m, _c, e) => {
        push(m, e);
        progress?.step();
      },
      // the setkey text takes a backend's SAs as fields, with no message made (XFRM)
      ...(printer
        ? {}
        : {
            onDumpedSa: (f: SaFields) => {
              if (!text.pushSa(f)) return false;
              progress?.step();
              return true;
            },
          }),
    });
    // a backend that does not stream keeps the messages in the outcome
    for (const x of out!.exchanges) x.received.forEach((r, i) => push(r, x.extras?.[i]));
    printer?.end();
  } finally {
    // what was written so far goes out, also when the dump failed half way (as the text did before it)
    text.end();
    progress?.end();
  }
  if (out!.errno !== 0 && !benign(cmd, out!.errno)) {
    io.stderr(`setkey: ${(await import('./outcome.js')).refusalText(cmd, out!.errno, out!.why)}\n`);
    return 1;
  }
  // printed as it came, it cannot be walked again (ip(8) warns alike)
  if (out!.interrupted) io.stderr(`setkey: warning: the ${cmd.kind === 'spddump' ? 'SPD' : 'SAD'} changed while it was dumped: an entry may be missing or shown twice\n`);
  return 0;
}

/** -D, -DP: one dump (or, with -l, one every second until interrupted). */
export async function runDump(io: Io, o: Options, backend: Backend): Promise<number> {
  const cmd: Command = o.policy ? { kind: 'spddump', pos: NO_POS } : { kind: 'dump', pos: NO_POS, satype: 0 };
  // -v and -H show the request first, -l loops: those read the whole answer
  if (!o.verbose && !o.hexdump && !o.forever) return streamDump(io, o, backend, cmd);
  const [{ shortdumpHeader }, { render }, { printOutcome }] = await Promise.all([import('../format/shortdump.js'), import('./filemode.js'), import('./outcome.js')]);
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
  const { printOutcome } = await import('./outcome.js');
  const error = printOutcome(cmd, out!, o, postprocOptions(io, o), (t) => io.stdout(t));
  if (error) {
    io.stderr(`setkey: ${error}\n`);
    return 1;
  }
  return 0;
}
