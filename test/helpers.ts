/** Test helpers: the vendored golden corpus, a fixed system database, an in-process CLI. */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { main } from '../src/cli/main.js';
import { openInput, type Io } from '../src/cli/io.js';
import type { ProgressTerminal } from '../src/cli/progress.js';
import { parseIpLiteral, type IpAddress } from '../src/model/address.js';
import { makeSystemDb, parseServices, type SystemDb } from '../src/syntax/sysdb.js';
import type { Lookup } from '../src/syntax/resolve.js';

const here = dirname(fileURLToPath(import.meta.url));
/** test/golden (a copy of shared/golden: real outputs of ipsec-tools 0.8.2 setkey) */
export const GOLDEN = [join(here, '..', '..', 'test', 'golden'), join(here, 'golden')].find((p) => existsSync(p))!;

/** The benchmark's own generator (bench/gen-statements.mjs, beside dist/): n/2 common SAs and n/2 policies, all distinct. */
const genPath = [join(here, '..', '..', 'bench', 'gen-statements.mjs'), join(here, '..', 'bench', 'gen-statements.mjs')].find((p) => existsSync(p))!;
export const { statements: benchStatements } = (await import(pathToFileURL(genPath).href)) as { statements: (n: number) => string };

export function goldenCases(sub: string): string[] {
  const dir = join(GOLDEN, sub);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(dir, d.name))
    .sort();
}

export function read(path: string): string {
  return readFileSync(path, 'latin1');
}

export function readBin(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** netbase-like services, with http listed for tcp only (as netbase 6.4) */
export const testSys: SystemDb = makeSystemDb({
  services: parseServices('domain 53/tcp\ndomain 53/udp\nhttp 80/tcp www\nisakmp 500/udp\nipsec-nat-t 4500/udp\n'),
  interfaces: new Map([
    ['lo', 1],
    ['eth0', 2],
  ]),
});

const HOSTS: Record<string, string[]> = {
  localhost: ['127.0.0.1'],
  'dual.example': ['192.0.2.10', '2001:db8::10'],
  'two4.example': ['192.0.2.20', '192.0.2.21'],
  'v6only.example': ['2001:db8::30'],
};

export const testLookup: Lookup = async (name, family) => {
  const list = HOSTS[name];
  if (!list) throw new Error('Name or service not known');
  const out: IpAddress[] = list.map((a) => parseIpLiteral(a)!.addr).filter((a) => family === 0 || a.family === family);
  if (out.length === 0) throw new Error('Address family for hostname not supported');
  return out;
};

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run setkey in-process with captured output, pid 4242 and a frozen clock. */
export interface CliOptions {
  stdin?: string | string[];
  files?: Record<string, string>;
  env?: Record<string, string>;
  /** the engine's clock in microseconds (default: frozen at 1700000100.123456) */
  clock?: () => bigint;
  signal?: AbortSignal;
  stdout?: (s: string) => void;
  /** stderr as a terminal that shows progress lines */
  progress?: ProgressTerminal;
  /** files opened as setkey opens them (io.ts openInput: sizes known, read in chunks); without, read whole by readFile */
  openFiles?: boolean;
}

export async function runCli(argv: string[], opts: CliOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const files = opts.files ?? {};
  const io: Io = {
    stdout: (s) => {
      stdout += s;
      opts.stdout?.(s);
    },
    stderr: (s) => (stderr += s),
    readFile: async (p) => {
      if (p in files) return Buffer.from(files[p]!, 'latin1');
      return readFileSync(p);
    },
    stdin: async function* () {
      const chunks = opts.stdin === undefined ? [] : Array.isArray(opts.stdin) ? opts.stdin : [opts.stdin];
      for (const c of chunks) yield c;
    },
    env: opts.env ?? {},
    pid: 4242,
    now: () => 1700000100,
    tz: () => 0,
    sys: testSys,
    lookup: testLookup,
    // tests never reach the host's kernel tables through auto-selection (the kernel suites name their backend)
    kernelReach: () => ({ reachable: false, why: 'neither XFRM nor PF_KEY (test)' }),
    clock: opts.clock ?? (() => 1700000100123456n),
    sleep: async () => undefined,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
    ...(opts.openFiles ? { open: openInput } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** Split concatenated PF_KEY messages by their sadb_msg_len. */
export function splitWire(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off + 16 <= b.length) {
    const len = (b[off + 4]! | (b[off + 5]! << 8)) * 8;
    if (len < 16) break;
    out.push(b.slice(off, off + len));
    off += len;
  }
  return out;
}

/** Bytes of every hexdump (-H) message in a text, messages split at offset 00000000. */
export function hexMessages(text: string): Uint8Array[] {
  const msgs: number[][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{8}): ((?:[0-9a-f]{2} )+)\s*$/.exec(line);
    if (!m) continue;
    if (parseInt(m[1]!, 16) === 0 || msgs.length === 0) msgs.push([]);
    msgs[msgs.length - 1]!.push(...m[2]!.trim().split(' ').map((h) => parseInt(h, 16)));
  }
  return msgs.map((m) => Uint8Array.from(m));
}

/** Mask sadb_msg_seq and sadb_msg_pid (bytes 8..15), which the contract ignores. */
export function maskSeqPid(b: Uint8Array): string {
  const c = Uint8Array.from(b);
  c.fill(0, 8, 16);
  return Buffer.from(c).toString('hex');
}

/** The JSON printers' options the JSON tests share: a fixed clock and zone, loopback as interface 1, a few protocol names. */
export const JSON_PROTOS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 58: 'ipv6-icmp', 135: 'mobility-header' };
export const JSON_OPTIONS = {
  withPorts: false,
  all: false,
  now: 1700000100,
  tz: () => 0,
  ifName: (i: number) => (i === 1 ? 'lo' : undefined),
  protoName: (n: number) => JSON_PROTOS[n],
  platform: 'linux' as const,
  showKeys: false,
};
