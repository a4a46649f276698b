/**
 * setkey's text of a dumped policy (spdump.ts spDump, through postproc.ts)
 * written as bytes straight from the message, for the shape nearly every
 * policy has (pfkey/dumped-policy.ts): an IPv4 selector, a policy of a
 * known direction and action, requests of a known protocol, mode and
 * level with IPv4 endpoints or none. A dump of 60k policies went through
 * the message's index, its extensions as objects and the text piece by
 * piece (a quarter of `setkey -DP`'s time over XFRM); here it is read and
 * written with nothing built but the few names and times, kept.
 *
 * It is a shortcut, not a second printer: spDump stays the definition.
 * Anything this does not recognise whole (another platform, -p, a
 * security context, IPv6, anything pfkey_check or spdump.ts would complain
 * of) it declines, and spDump prints it. test/spdump-bytes.test.ts holds
 * it to spDump: the same bytes, or no answer, for every message.
 */
import { IPSEC_MANUAL_REQID_MAX } from '../model/tables.js';
import { dumpedPolicy } from '../pfkey/dumped-policy.js';
import { le32, u16 } from '../pfkey/dumped-sa.js';
import type { PostprocOptions } from './postproc.js';
import { ACTIONS, DIRS, LEVELS, MODES, portless, priorityText, PROTOS } from './spdump.js';
import { lit, TextBytes } from './text-bytes.js';

// spdump.ts's words (ipsec_dump_policy.c), each with what goes around it, as bytes
const DIR_WORDS = DIRS.map((d) => lit(`\n\t${d} `));
const ACTION_WORDS = ACTIONS.map(lit);
const PROTO_WORDS: Record<number, Uint8Array> = Object.fromEntries(Object.entries(PROTOS).map(([n, w]) => [n, lit(`\n\t${w}/`)]));
const MODE_WORDS = MODES.map((m) => lit(`${m}/`));
const LEVEL_WORDS = LEVELS.map((l) => lit(`/${l}`));
const ANY_PORT = lit('[any]');
const CREATED = lit('\tcreated: ');
const LASTUSED = lit('  lastused: ');
const LIFETIME = lit('\tlifetime: ');
const VALIDTIME = lit('(s) validtime: ');
const S_LINE = lit('(s)\n');
const SPID = lit('\tspid=');
const SEQ = lit(' seq=');
const PID = lit(' pid=');
const REFCNT = lit('\n\trefcnt=');
/** the most a plain policy's text takes (two addresses, six requests with endpoints, times, numbers) */
const ROOM = 2048;

export class PolicyTextWriter extends TextBytes {
  /** whether this writer takes anything at all under these options */
  private readonly on: boolean;
  /** the upper protocols' names and priorities' words, as bytes once */
  private readonly protoNames = new Map<number, Uint8Array>();
  private readonly priorities = new Map<number, Uint8Array>();

  constructor(o: PostprocOptions, sink: (b: Uint8Array) => void) {
    super(o, sink);
    this.on = o.platform === 'linux' && !o.withPorts;
  }

  /**
   * The text of message `m` written, and its sadb_msg_seq returned; -1 if
   * it is not one this writer takes (nothing is written then).
   */
  take(m: Uint8Array): number {
    const x = this.on ? dumpedPolicy(m) : undefined;
    if (!x) return -1;
    const { src, dst, cur, hard, policy } = x;
    const ulp = m[src + 4]!;
    const sport = (m[src + 10]! << 8) | m[src + 11]!;
    const dport = (m[dst + 10]! << 8) | m[dst + 11]!;
    // icmp, icmp6 and mh selectors say their type and code, gre its key: spDump says those (rare) ones
    if (portless(ulp) && (sport !== 0 || dport !== 0)) return -1;
    this.room(ROOM);
    this.side(m, src, ulp);
    this.side(m, dst, ulp);
    this.bytes(this.protoName(ulp));
    const ptype = u16(m, policy + 4);
    this.bytes(DIR_WORDS[m[policy + 6]!]!);
    this.bytes(this.priority(le32(m, policy + 12)));
    this.bytes(ACTION_WORDS[ptype]!);
    if (ptype === 2) {
      const end = policy + u16(m, policy) * 8;
      for (let p = policy + 16; p < end; p += u16(m, p)) this.request(m, p);
    }
    this.byte(10);
    if (cur >= 0) {
      this.bytes(CREATED);
      this.time(m, cur + 16);
      this.bytes(LASTUSED);
      this.time(m, cur + 24);
      this.byte(10);
    }
    if (hard >= 0) {
      this.bytes(LIFETIME);
      this.u64At(m, hard + 16);
      this.bytes(VALIDTIME);
      this.u64At(m, hard + 24);
      this.bytes(S_LINE);
    }
    this.bytes(SPID);
    this.dec(le32(m, policy + 8));
    return this.seqPidRefcnt(m, SEQ, PID, REFCNT);
  }

  /** One side of the selector: the address, "/plen" unless a host's, "[port]" or "[any]" unless portless, a space. */
  private side(m: Uint8Array, ext: number, ulp: number): void {
    this.ipv4(m, ext + 12);
    const plen = m[ext + 5]!;
    if (plen !== 32) {
      this.byte(47);
      this.dec(plen);
    }
    if (!portless(ulp)) {
      const port = (m[ext + 10]! << 8) | m[ext + 11]!;
      if (port === 0) this.bytes(ANY_PORT);
      else {
        this.byte(91);
        this.dec(port);
        this.byte(93);
      }
    }
    this.byte(32);
  }

  /** "\tproto/mode/[src-dst]/level[:reqid | #reqid]" */
  private request(m: Uint8Array, p: number): void {
    this.bytes(PROTO_WORDS[u16(m, p + 2)]!);
    this.bytes(MODE_WORDS[m[p + 4]!]!);
    if (u16(m, p) > 16) {
      this.ipv4(m, p + 16 + 4);
      this.byte(45);
      this.ipv4(m, p + 32 + 4);
    }
    this.bytes(LEVEL_WORDS[m[p + 5]!]!);
    const reqid = le32(m, p + 8);
    if (reqid !== 0) {
      this.byte(reqid > IPSEC_MANUAL_REQID_MAX ? 35 : 58);
      this.dec(reqid);
    }
  }

  /** getprotobynumber's name, else the number (spdump.ts upperSpec) */
  private protoName(ulp: number): Uint8Array {
    let b = this.protoNames.get(ulp);
    if (!b) this.protoNames.set(ulp, (b = lit(this.o.protoName(ulp) ?? String(ulp))));
    return b;
  }

  /** "prio def + 10 " or nothing (spdump.ts priorityText), the last few kept */
  private priority(p: number): Uint8Array {
    let b = this.priorities.get(p);
    if (!b) {
      if (this.priorities.size >= 64) this.priorities.clear();
      this.priorities.set(p, (b = lit(priorityText(p))));
    }
    return b;
  }
}
