/**
 * setkey's command line: the reference's getopt string "acdf:HlnvxDFPphVrk?"
 * with GNU getopt behaviour (bundles like -DPp, counted -xx, options after
 * operands, `--`), plus our long options. -V and -h act as soon as getopt
 * meets them, as in the reference.
 */
import type { BackendName } from '../backends/backend.js';

export type { BackendName };

export type Mode = 'none' | 'script' | 'stdin' | 'dump' | 'flush' | 'promisc';

export interface Options {
  mode: Mode;
  /** -f FILE ('-' = stdin) */
  script?: string;
  all: boolean; // -a
  forever: boolean; // -l
  noAct: boolean; // -n
  hexdump: boolean; // -H
  promiscCount: number; // -x, -xx
  policy: boolean; // -P
  withPorts: boolean; // -p
  verbose: boolean; // -v
  /** RFC mode (default): inbound policies get a forward copy; -k turns it off, -r on */
  rfcMode: boolean;
  backend?: BackendName;
  store?: string;
  platform?: 'linux' | 'freebsd' | 'xnu';
  format?: 'setkey' | 'script' | 'json' | 'wireshark';
  showKeys: boolean;
  /** --diff / --sync: compare the backend with what -f FILE (or -c) declares, and show or apply the plan */
  converge?: 'diff' | 'sync';
  /** --scope: the whole tables (default) or only the (src, dst) pairs the file names */
  scope?: 'all' | 'declared';
  /** --decrypt CAPTURE: open its IPsec packets with the SAD (of the -f files, else of the backend) */
  decrypt?: string;
  /** -o OUT (with --decrypt): where the opened capture goes ('-' or absent: standard output) */
  output?: string;
  /** every -f FILE in order (--decrypt reads the SAs of each) */
  scripts?: string[];
  files: string[];
}

export type ArgsResult =
  | { action: 'run'; options: Options }
  | { action: 'usage'; error?: string }
  | { action: 'version' }
  | { action: 'long-version' }
  | { action: 'help' }
  | { action: 'error'; message: string };

const WITH_ARG = new Set(['f', 'o']);
const FLAGS = new Set('acdHlnvxDFPphVrk?'.split(''));
const LONG_WITH_ARG = new Set(['backend', 'store', 'platform', 'format', 'scope', 'decrypt']);
const LONG_FLAGS = new Set(['help', 'version', 'show-keys', 'diff', 'sync']);

function defaults(): Options {
  return {
    mode: 'none',
    all: false,
    forever: false,
    noAct: false,
    hexdump: false,
    promiscCount: 0,
    policy: false,
    withPorts: false,
    verbose: false,
    rfcMode: true,
    showKeys: false,
    files: [],
  };
}

function applyLong(o: Options, name: string, value: string | undefined): ArgsResult | undefined {
  switch (name) {
    case 'help':
      return { action: 'help' };
    case 'version':
      return { action: 'long-version' };
    case 'show-keys':
      o.showKeys = true;
      return undefined;
    case 'diff':
    case 'sync':
      if (o.converge && o.converge !== name) return { action: 'error', message: '--diff and --sync: give one of them' };
      o.converge = name;
      return undefined;
    case 'decrypt':
      if (!value) return { action: 'error', message: '--decrypt needs a capture file (pcap or pcapng)' };
      o.decrypt = value;
      return undefined;
    case 'scope':
      if (value !== 'all' && value !== 'declared') return { action: 'error', message: `--scope takes all or declared, not '${value}'` };
      o.scope = value;
      return undefined;
    case 'backend':
      if (value !== 'embedded' && value !== 'xfrm' && value !== 'pfkey') return { action: 'error', message: `--backend takes embedded, xfrm or pfkey, not '${value}'` };
      o.backend = value;
      return undefined;
    case 'store':
      if (!value) return { action: 'error', message: '--store needs a path' };
      o.store = value;
      return undefined;
    case 'platform':
      if (value !== 'linux' && value !== 'freebsd' && value !== 'xnu') return { action: 'error', message: `--platform takes linux, freebsd or xnu, not '${value}'` };
      o.platform = value;
      return undefined;
    case 'format':
      if (value !== 'setkey' && value !== 'script' && value !== 'json' && value !== 'wireshark') return { action: 'error', message: `--format takes setkey, script, json or wireshark, not '${value}'` };
      o.format = value;
      return undefined;
  }
  return { action: 'error', message: `unrecognized option '--${name}'` };
}

function applyShort(o: Options, c: string, arg: string | undefined): ArgsResult | undefined {
  switch (c) {
    case 'c':
      o.mode = 'stdin';
      break;
    case 'f':
      o.mode = 'script';
      o.script = arg!;
      (o.scripts ??= []).push(arg!);
      break;
    case 'o':
      o.output = arg!;
      break;
    case 'D':
      o.mode = 'dump';
      break;
    case 'F':
      o.mode = 'flush';
      break;
    case 'a':
      o.all = true;
      break;
    case 'l':
      o.forever = true;
      break;
    case 'n':
      o.noAct = true;
      break;
    case 'H':
      o.hexdump = true;
      break;
    case 'x':
      o.mode = 'promisc';
      o.promiscCount++;
      break;
    case 'P':
      o.policy = true;
      break;
    case 'p':
      o.withPorts = true;
      break;
    case 'v':
      o.verbose = true;
      break;
    case 'r':
      o.rfcMode = true;
      break;
    case 'k':
      o.rfcMode = false;
      break;
    case 'd':
      break; // accepted and ignored, as in the reference
    case 'V':
      return { action: 'version' };
    case 'h':
    case '?':
      return { action: 'usage' };
  }
  return undefined;
}

export function parseArgs(argv: readonly string[]): ArgsResult {
  if (argv.length === 0) return { action: 'usage' };
  const o = defaults();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      o.files.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      let value = eq < 0 ? undefined : a.slice(eq + 1);
      if (LONG_WITH_ARG.has(name) && value === undefined) {
        value = argv[++i];
        if (value === undefined) return { action: 'usage', error: `option '--${name}' requires an argument` };
      } else if (LONG_FLAGS.has(name) && value !== undefined) {
        return { action: 'usage', error: `option '--${name}' doesn't allow an argument` };
      }
      if (!LONG_WITH_ARG.has(name) && !LONG_FLAGS.has(name)) return { action: 'usage', error: `unrecognized option '${a}'` };
      const r = applyLong(o, name, value);
      if (r) return r;
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      o.files.push(a);
      continue;
    }
    for (let k = 1; k < a.length; k++) {
      const c = a[k]!;
      if (!FLAGS.has(c) && !WITH_ARG.has(c)) return { action: 'usage', error: `invalid option -- '${c}'` };
      let arg: string | undefined;
      if (WITH_ARG.has(c)) {
        arg = k + 1 < a.length ? a.slice(k + 1) : argv[++i];
        if (arg === undefined) return { action: 'usage', error: `option requires an argument -- '${c}'` };
        k = a.length;
      }
      const r = applyShort(o, c, arg);
      if (r) return r;
    }
  }
  // -o is ours, for --decrypt only: elsewhere getopt's complaint, as the reference makes it
  if (o.output !== undefined && o.decrypt === undefined) return { action: 'usage', error: "invalid option -- 'o'" };
  return { action: 'run', options: o };
}
