/**
 * Name <-> number tables of the IPsec model. Numbers are those of RFC 2367 and
 * the KAME/Linux <netinet6/ipsec.h> / <linux/ipsec.h> enums, which every
 * platform shares for these fields (platform differences live in src/pfkey/platform.ts).
 */

export interface NameTable<N extends number = number> {
  readonly byName: ReadonlyMap<string, N>;
  readonly byNumber: ReadonlyMap<number, string>;
}

export function table<N extends number>(entries: ReadonlyArray<readonly [string, N]>): NameTable<N> {
  const byName = new Map<string, N>();
  const byNumber = new Map<number, string>();
  for (const [name, n] of entries) {
    byName.set(name, n);
    if (!byNumber.has(n)) byNumber.set(n, name);
  }
  return { byName, byNumber };
}

export function nameOf(t: NameTable, n: number): string | undefined {
  return t.byNumber.get(n);
}

export function numberOf<N extends number>(t: NameTable<N>, name: string): N | undefined {
  return t.byName.get(name);
}

/** SA types (sadb_msg_satype). TCP is KAME/FreeBSD's SADB_X_SATYPE_TCPSIGNATURE. */
export const SaType = { UNSPEC: 0, AH: 2, ESP: 3, RSVP: 5, OSPFV2: 6, RIPV2: 7, MIP: 8, IPCOMP: 9, TCP: 11 } as const;
export type SaType = (typeof SaType)[keyof typeof SaType];

/** IPSEC_MODE_* (<linux/ipsec.h>). */
export const Mode = { ANY: 0, TRANSPORT: 1, TUNNEL: 2, BEET: 3 } as const;
export const modeTable = table<number>([
  ['any', Mode.ANY],
  ['transport', Mode.TRANSPORT],
  ['tunnel', Mode.TUNNEL],
]);

/** IPSEC_DIR_*; FWD exists on Linux only. */
export const Dir = { ANY: 0, IN: 1, OUT: 2, FWD: 3 } as const;
export const dirTable = table<number>([
  ['any', Dir.ANY],
  ['in', Dir.IN],
  ['out', Dir.OUT],
  ['fwd', Dir.FWD],
]);

/** IPSEC_POLICY_* (the policy action). */
export const Action = { DISCARD: 0, NONE: 1, IPSEC: 2, ENTRUST: 3, BYPASS: 4 } as const;
export const actionTable = table<number>([
  ['discard', Action.DISCARD],
  ['none', Action.NONE],
  ['ipsec', Action.IPSEC],
  ['entrust', Action.ENTRUST],
  ['bypass', Action.BYPASS],
]);

/** IPSEC_LEVEL_*. */
export const Level = { DEFAULT: 0, USE: 1, REQUIRE: 2, UNIQUE: 3 } as const;
export const levelTable = table<number>([
  ['default', Level.DEFAULT],
  ['use', Level.USE],
  ['require', Level.REQUIRE],
  ['unique', Level.UNIQUE],
]);

/** IPsec protocols of a policy request (IP protocol numbers). */
export const IpProto = { ICMP: 1, IPV4: 4, TCP: 6, UDP: 17, GRE: 47, ESP: 50, AH: 51, ICMPV6: 58, IPCOMP: 108, MH: 135, ANY: 255 } as const;
export const requestProtoTable = table<number>([
  ['esp', IpProto.ESP],
  ['ah', IpProto.AH],
  ['ipcomp', IpProto.IPCOMP],
]);

/** The protocol keywords of an SA statement and the SA type each selects. */
export const saProtoTable = table<number>([
  ['esp', SaType.ESP],
  ['ah', SaType.AH],
  ['ipcomp', SaType.IPCOMP],
  ['tcp', SaType.TCP],
]);

/** SADB_SASTATE_*. */
export const SaState = { LARVAL: 0, MATURE: 1, DYING: 2, DEAD: 3 } as const;
export const saStateTable = table<number>([
  ['larval', SaState.LARVAL],
  ['mature', SaState.MATURE],
  ['dying', SaState.DYING],
  ['dead', SaState.DEAD],
]);

/**
 * sadb_sa_flags bits that setkey sets (KAME SADB_X_EXT_*; identical on Linux,
 * FreeBSD and xnu for these low bits).
 */
export const SaFlag = {
  OLD: 0x0001,
  IV4B: 0x0010,
  DERIV: 0x0020,
  CYCSEQ: 0x0040,
  /** KAME SADB_X_EXT_PSEQ is 0: sequential padding is the default, `-f seq-pad` sets no bit */
  PSEQ: 0x0000,
  RAWCPI: 0x0080,
  PRAND: 0x0100,
  PZERO: 0x0200,
} as const;

/** `-f` padding/sequence options of an SA statement. */
export const padFlagTable = table<number>([
  ['zero-pad', SaFlag.PZERO],
  ['random-pad', SaFlag.PRAND],
  ['seq-pad', SaFlag.PSEQ],
]);

/** UDP encapsulation types (NAT-T, RFC 3948). */
export const UDP_ENCAP_ESPINUDP = 2;

/** Default policy priority of setkey (libipsec PRIORITY_DEFAULT). */
export const PRIORITY_DEFAULT = 0x80000000;
export const PRIORITY_HIGH = 0x40000000;
export const PRIORITY_LOW = 0xc0000000;

/** Largest reqid setkey treats as manual (IPSEC_MANUAL_REQID_MAX); larger ones print as '#id'. */
export const IPSEC_MANUAL_REQID_MAX = 0x3fff;
