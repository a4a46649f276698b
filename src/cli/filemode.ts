/**
 * `setkey FILE...`: print every PF_KEY message stored in each file in the
 * dump format (setkey.c fileproc + postproc), for files of any size. A file
 * shorter than one header is EINVAL, as in the reference; a message whose
 * length is 0 or runs past the file (the reference loops or reads garbage)
 * is reported and ends that file with a non-zero status.
 */
import type { Platform } from '../model/algorithms.js';
import { DecodeError, splitMessages } from '../pfkey/decode.js';
import { dumpView, type DumpView } from '../pfkey/dump-view.js';
import { StateScriptWriter } from '../format/state-script.js';
import { SpillLines } from './spill-lines.js';
import { kdebugSadb } from '../format/kdebug.js';
import { JsonDumpWriter, type Json } from '../format/json.js';
import { postproc, type PostprocOptions } from '../format/postproc.js';
import { DumpTextWriter } from '../format/dump-text-bytes.js';
import { ESP_SA_HEADER, espSaLine } from '../format/wireshark.js';
import { MsgType } from '../pfkey/constants.js';
import { saOfDumped } from '../decrypt/backend-sas.js';
import type { Options } from './args.js';
import { bytesSink, type Io } from './io.js';
import { dumpOptions } from './dump-options.js';
import { errnoText, messageStream } from './input.js';
import { escapeControls } from '../syntax/redact.js';
import { collectPrinted, containPrinting } from '../sys/builtin.js';


/** The messages of a buffer of concatenated messages, one at a time; framing problems go to `problems`. */
export function* viewsOf(bytes: Uint8Array, platform: Platform, problems: DecodeError[]): Generator<DumpView> {
  for (const m of splitMessages(bytes)) {
    if (m instanceof DecodeError) {
      problems.push(m);
      return;
    }
    yield dumpView(bytes.subarray(m.offset, m.offset + m.length), platform);
  }
}

/** A dump format, fed one message at a time (the same printers for file mode and -D/-DP). */
export interface DumpPrinter {
  push(v: DumpView): void;
  /** a message printed from its bytes alone, if the printer can (true); else the caller pushes its view */
  take?(m: Uint8Array): boolean;
  end(): void;
  /** write out what the printer holds (before a diagnostic that ends the output) */
  flush(): void;
}

type Extras = (v: DumpView) => { readonly [key: string]: Json } | undefined;

/**
 * The printer of the chosen output format, writing to `out` piece by piece;
 * JSON, made as bytes, goes to `outBytes` when there is one (see Io.stdoutBytes).
 */
export function dumpPrinter(o: Options, po: PostprocOptions, out: (s: string) => void, extras?: Extras, outBytes?: (b: Uint8Array) => void): DumpPrinter {
  const p = formatPrinter(o, po, out, extras, outBytes);
  let n = 0;
  // a long dump (the script format prints nothing before its end): V8's young generation kept small and
  // its garbage collected as it goes, whether or not it prints (src/sys/builtin.ts)
  const count = (): void => {
    if (++n === LARGE_DUMP) containPrinting();
    if ((n & 1023) === 0) collectPrinted();
  };
  const take = p.take;
  return {
    ...p,
    push: (v) => {
      count();
      p.push(v);
    },
    ...(take
      ? {
          take: (m: Uint8Array) => {
            // a message declined here is pushed next, and counted there
            const taken = take(m);
            if (taken) count();
            return taken;
          },
        }
      : {}),
  };
}

/** Entries past this many make a long dump (see containPrinting). */
const LARGE_DUMP = 1000;

function formatPrinter(o: Options, po: PostprocOptions, out: (s: string) => void, extras?: Extras, outBytes?: (b: Uint8Array) => void): DumpPrinter {
  switch (o.format ?? 'setkey') {
    case 'script': {
      // a Linux dump is newest first and the script replays it oldest first: each entry is kept, as its line (in a file past a few)
      const w = new StateScriptWriter({ platform: po.platform, all: po.all }, new SpillLines());
      return { take: (m) => w.take(m), push: (v) => w.push(v), end: () => w.write(out), flush: () => undefined };
    }
    case 'json': {
      const w = new JsonDumpWriter({ ...po, showKeys: o.showKeys }, bytesSink(out, outBytes), extras);
      return { push: (v) => w.push(v), end: () => w.end(), flush: () => w.flush() };
    }
    case 'wireshark': {
      // the SAD as Wireshark's esp_sa file (policies have no place there)
      let head = false;
      const header = (): void => {
        if (!head) out(ESP_SA_HEADER);
        head = true;
      };
      return {
        push: (v) => {
          header();
          // with what only XFRM says (ICV lengths, AEAD ciphers PF_KEY cannot number) put back from the backend's extras
          const sa = v.header.type === MsgType.DUMP ? saOfDumped(v.ix.bytes, extras?.(v), po.platform) : undefined;
          if (sa) out(espSaLine(sa));
        },
        end: header,
        flush: () => undefined,
      };
    }
    default: {
      // the common SA and policy as bytes (format/dump-text-bytes.ts), in order with the text of the rest
      const fast = o.verbose ? undefined : new DumpTextWriter(po, bytesSink(out, outBytes));
      return {
        ...(fast ? { take: (m: Uint8Array) => fast.take(m) >= 0 } : {}),
        push: (v) => {
          fast?.flush();
          // -v: the message itself first, as libipsec's kdebug_sadb() shows it
          if (o.verbose) out(kdebugSadb(v.ix.bytes, po.platform) + '\n');
          out(postproc(v, po));
        },
        end: () => fast?.flush(),
        flush: () => fast?.flush(),
      };
    }
  }
}

/** The messages in the chosen output format, written to `out` piece by piece. */
export function render(views: Iterable<DumpView>, o: Options, po: PostprocOptions, out: (s: string) => void, extras?: Extras): void {
  const p = dumpPrinter(o, po, out, extras);
  for (const v of views) p.push(v);
  p.end();
}

export async function runFileMode(io: Io, o: Options): Promise<number> {
  const po: PostprocOptions = { ...dumpOptions(io, o), short: o.forever };
  let status = 0;
  for (const file of o.files) {
    const name = escapeControls(file);
    const p = dumpPrinter(o, po, (t) => io.stdout(t), undefined, io.stdoutBytes?.bind(io));
    let seen = 0;
    let problem: DecodeError | undefined;
    try {
      // messages as they are read: a file of any size in the memory of one chunk
      for await (const m of messageStream(io, file)) {
        if (m instanceof DecodeError) {
          problem = m;
          break;
        }
        seen += m.length;
        if (!p.take?.(m)) p.push(dumpView(m, po.platform));
      }
    } catch (e) {
      // what was printed before the failure comes before the complaint
      p.flush();
      io.stderr(`setkey: ${name}: ${errnoText(e)}\n`);
      return 1;
    }
    // shorter than one header and nothing else: EINVAL, as the reference says
    if (seen === 0 && problem && problem.offset === 0 && problem.message.includes('too few')) {
      io.stderr(`setkey: ${name}: Invalid argument\n`);
      return 1;
    }
    if (seen === 0 && !problem) {
      io.stderr(`setkey: ${name}: Invalid argument\n`);
      return 1;
    }
    p.end();
    if (problem) {
      io.stderr(`setkey: ${name}: byte ${problem.offset}: ${problem.message}\n`);
      status = 1;
    }
  }
  return status;
}
