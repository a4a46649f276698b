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
import { renderJson } from './json-output.js';
import { localZone } from '../format/ctime.js';
import type { DumpOptions } from '../format/dump-common.js';
import { postproc, type PostprocOptions } from '../format/postproc.js';
import type { Options } from './args.js';
import type { Io } from './io.js';

export function dumpOptions(io: Io, o: Options): DumpOptions {
  return {
    withPorts: o.withPorts,
    all: o.all,
    now: io.now(),
    tz: io.tz ?? localZone,
    ifName: (i) => io.sys.ifName(i),
    protoName: (n) => io.sys.protocolByNumber(n),
    platform: (o.platform ?? 'linux') as Platform,
  };
}

/** The messages of a buffer of concatenated messages; framing problems go to `problems`. */
export function viewsOf(bytes: Uint8Array, platform: Platform, problems: DecodeError[]): DumpView[] {
  const views: DumpView[] = [];
  for (const m of splitMessages(bytes)) {
    if (m instanceof DecodeError) {
      problems.push(m);
      break;
    }
    views.push(dumpView(bytes.subarray(m.offset, m.offset + m.length), platform));
  }
  return views;
}

/** The messages in the chosen output format. */
export function render(views: DumpView[], o: Options, po: PostprocOptions): string {
  switch (o.format ?? 'setkey') {
    case 'script':
      return stateScript(views, { platform: po.platform, all: po.all });
    case 'json':
      return renderJson(views, po, o.showKeys);
    case 'setkey':
      return views.map((v) => postproc(v, po)).join('');
  }
}

export async function runFileMode(io: Io, o: Options): Promise<number> {
  const po: PostprocOptions = { ...dumpOptions(io, o), short: o.forever };
  let status = 0;
  for (const file of o.files) {
    let bytes: Uint8Array;
    try {
      bytes = await io.readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      io.stderr(`setkey: ${file}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (e as Error).message}\n`);
      return 1;
    }
    if (bytes.length < 16) {
      io.stderr(`setkey: ${file}: Invalid argument\n`);
      return 1;
    }
    const problems: DecodeError[] = [];
    io.stdout(render(viewsOf(bytes, po.platform, problems), o, po));
    for (const p of problems) {
      io.stderr(`setkey: ${file}: byte ${p.offset}: ${p.message}\n`);
      status = 1;
    }
  }
  return status;
}
