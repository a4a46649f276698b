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
import { stateScript } from '../format/state-script.js';
import { kdebugSadb } from '../format/kdebug.js';
import { renderJson } from './json-output.js';
import type { Json } from '../format/json.js';
import { postproc, type PostprocOptions } from '../format/postproc.js';
import type { Options } from './args.js';
import type { Io } from './io.js';
import { dumpOptions } from './dump-options.js';
import { errnoText, readMessages } from './input.js';
import { escapeControls } from '../syntax/redact.js';


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

/** The messages in the chosen output format, written to `out` piece by piece. */
export function render(views: Iterable<DumpView>, o: Options, po: PostprocOptions, out: (s: string) => void, extras?: (v: DumpView) => { readonly [key: string]: Json } | undefined): void {
  switch (o.format ?? 'setkey') {
    case 'script':
      out(stateScript(views, { platform: po.platform, all: po.all }));
      return;
    case 'json':
      out(renderJson(views, po, o.showKeys, extras));
      return;
    case 'setkey':
      for (const v of views) {
        // -v: the message itself first, as libipsec's kdebug_sadb() shows it
        if (o.verbose) out(kdebugSadb(v.ix.bytes, po.platform) + '\n');
        out(postproc(v, po));
      }
  }
}

export async function runFileMode(io: Io, o: Options): Promise<number> {
  const po: PostprocOptions = { ...dumpOptions(io, o), short: o.forever };
  let status = 0;
  for (const file of o.files) {
    const name = escapeControls(file);
    let bytes: Uint8Array;
    try {
      // read up to the first message that cannot be framed (an endless /dev/zero stops at once)
      const b = await readMessages(io, file);
      // a plain Uint8Array: subarrays of a Buffer are Buffers, which cost more to make
      bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      io.stderr(`setkey: ${name}: ${errnoText(e)}\n`);
      return 1;
    }
    if (bytes.length < 16) {
      io.stderr(`setkey: ${name}: Invalid argument\n`);
      return 1;
    }
    const problems: DecodeError[] = [];
    render(viewsOf(bytes, po.platform, problems), o, po, (t) => io.stdout(t));
    for (const p of problems) {
      io.stderr(`setkey: ${name}: byte ${p.offset}: ${p.message}\n`);
      status = 1;
    }
  }
  return status;
}
