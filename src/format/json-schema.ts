/**
 * The types of the setkey-json/1 document (docs/json.md): what messageJson
 * and dumpJson give the library's users, entry by entry. json.ts says each
 * entry; these say its shape.
 */
import type { Platform } from '../model/algorithms.js';
import type { DecodeError } from '../pfkey/decode.js';
import type { Json } from './json-sink.js';

/** A word from a name table, or the number when the table has none (unknown ids stay numbers). */
export type Word = string | number;

export type JsonEndpoint = { family: Word | null; address: string | null; port: number | null };
export type JsonSelectorAddress = { family: Word; address: string | null; prefixlen: number; port: number };
export type JsonLifetime = { allocations: number; bytes: bigint; addtime: bigint; usetime: bigint };
export type JsonCurrentLifetime = JsonLifetime & { created: string | null; lastUsed: string | null; diff: bigint };
export type JsonLifetimes = { current: JsonCurrentLifetime | null; hard: JsonLifetime | null; soft: JsonLifetime | null };
export type JsonSecCtx = { doi: number; alg: number; length: number; text: string };
export type JsonKeyedAlgorithm = { name: string | null; id: number; keyBits: number | null; key: string | null };
export type JsonAlgorithm = { name: string | null; id: number };
export type JsonNatt = { type: number; sport: number | null; dport: number | null; oa: string | null };
/** sadb_msg_seq, sadb_msg_pid and sadb_msg_reserved (which setkey prints as refcnt) */
export type JsonTrailer = { sadbSeq: number; pid: number; refcnt: number };

export type JsonSa = {
  kind: 'sa';
  satype: number;
  protocol: Word;
  src: JsonEndpoint;
  dst: JsonEndpoint;
  mode: Word;
  spi: number;
  spiHex: string;
  reqid: number;
  natt: JsonNatt | null;
  encryption: JsonKeyedAlgorithm | null;
  authentication: JsonKeyedAlgorithm | null;
  compression: JsonAlgorithm | null;
  sequence: number;
  replay: number;
  flags: number;
  state: Word;
  lifetimes: JsonLifetimes;
  securityContext: JsonSecCtx | null;
  /** what the kernel's XFRM interface says beyond PF_KEY (xfrm backend): replay window, ESN, AEAD ICV, marks... */
  xfrm: { readonly [key: string]: Json } | null;
} & JsonTrailer;

export type JsonSelector = {
  src: JsonSelectorAddress;
  dst: JsonSelectorAddress;
  upperProtocol: number;
  upperProtocolName: string | null;
  /** ICMP, ICMPv6 and MH carry a type and code in the ports; GRE a key */
  icmpType: number | null;
  icmpCode: number | null;
  greKey: number | null;
};

export type JsonRequest = { protocol: Word; mode: Word; level: Word; reqid: number; tunnel: { src: JsonEndpoint; dst: JsonEndpoint } | null };

export type JsonPolicy = {
  kind: 'policy';
  id: number;
  perSocket: boolean;
  selector: JsonSelector | null;
  direction: Word;
  action: Word;
  priority: number;
  priorityText: string | null;
  requests: JsonRequest[];
  policyError: string | null;
  lifetimes: JsonLifetimes;
  securityContext: JsonSecCtx | null;
  xfrm: { readonly [key: string]: Json } | null;
} & JsonTrailer;

export type JsonError = { kind: 'error'; type: number; typeName: string | null; errno: number; message: string };

export type JsonInvalidCode = DecodeError['code'] | 'missing-extension' | 'policy' | 'internal';
export type JsonInvalid = { kind: 'invalid'; type: number; typeName: string | null; message: string; code: JsonInvalidCode; offset: number | null };

export type JsonEntry = JsonSa | JsonPolicy | JsonError | JsonInvalid;

export type JsonDocument = { schema: string; platform: Platform; now: string | null; keysShown: boolean; entries: JsonEntry[] };
