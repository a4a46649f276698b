/**
 * Link-layer headers (https://www.tcpdump.org/linktypes.html): where the IP
 * packet starts in a frame, and how to say "this is now IPv4/IPv6" in the
 * header when a tunnel-mode packet is replaced by an inner packet of the
 * other version. One table row per link type.
 */

export type IpVersion = 4 | 6;

export interface LinkFrame {
  /** offset of the IP header in the frame (= length of the link header) */
  readonly ipOffset: number;
  /** the version the link header announces; undefined when it has no such field (raw IP) */
  readonly claimed: IpVersion | undefined;
}

export interface LinkProblem {
  readonly reason: 'not-ip' | 'truncated';
  readonly detail: string;
}

export interface RewriteOptions {
  /**
   * The AF_INET6 value to write into a DLT_NULL / DLT_LOOP header that said
   * AF_INET: the number differs by OS (Linux 10, OpenBSD/NetBSD 24, FreeBSD
   * 28, Darwin 30) and an IPv4 header does not tell which. Default 24
   * (libpcap's BSD_AFNUM_INET6_BSD); tcpdump and Wireshark read all four.
   */
  readonly inet6Family?: number;
}

export interface LinkLayer {
  readonly linkType: number;
  readonly name: string;
  locate(frame: Uint8Array): LinkFrame | LinkProblem;
  /**
   * Set the protocol field of `header` (a copy of the frame's link header) to
   * announce `version`; false when this link type cannot carry that version.
   */
  announce(header: Uint8Array, version: IpVersion, options: RewriteOptions): boolean;
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q customer tag, 802.1ad service tag, and the pre-standard Q-in-Q tag */
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
const AF_INET = 2;
/** AF_INET6 on Linux, OpenBSD/NetBSD/BSD/OS, FreeBSD/DragonFly, Darwin */
const AF_INET6_VALUES = new Set([10, 24, 28, 30]);
const DEFAULT_INET6 = 24;

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const set16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
};
const short = (what: string, need: number, have: number): LinkProblem => ({ reason: 'truncated', detail: `${what} header needs ${need} bytes, frame has ${have}` });

function byEthertype(type: number, ipOffset: number, what: string): LinkFrame | LinkProblem {
  if (type === ETHERTYPE_IPV4) return { ipOffset, claimed: 4 };
  if (type === ETHERTYPE_IPV6) return { ipOffset, claimed: 6 };
  return { reason: 'not-ip', detail: `${what} protocol 0x${type.toString(16).padStart(4, '0')}` };
}

const ethertypeFor = (v: IpVersion): number => (v === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);

/** Ethernet II; VLAN tags (possibly stacked) are skipped to the last type field, which precedes the IP header. */
const ethernet: LinkLayer = {
  linkType: 1,
  name: 'EN10MB',
  locate(frame) {
    let at = 12;
    for (;;) {
      if (frame.length < at + 2) return short('Ethernet', at + 2, frame.length);
      const type = u16(frame, at);
      if (!VLAN_TPIDS.has(type)) return byEthertype(type, at + 2, 'Ethernet');
      at += 4;
    }
  },
  announce(header, version) {
    set16(header, header.length - 2, ethertypeFor(version));
    return true;
  },
};

/** Linux cooked capture v1: 16 bytes, protocol (an ethertype) in the last two */
const sll: LinkLayer = {
  linkType: 113,
  name: 'LINUX_SLL',
  locate(frame) {
    if (frame.length < 16) return short('SLL', 16, frame.length);
    return byEthertype(u16(frame, 14), 16, 'SLL');
  },
  announce(header, version) {
    set16(header, 14, ethertypeFor(version));
    return true;
  },
};

/** Linux cooked capture v2: 20 bytes, protocol (an ethertype) first */
const sll2: LinkLayer = {
  linkType: 276,
  name: 'LINUX_SLL2',
  locate(frame) {
    if (frame.length < 20) return short('SLL2', 20, frame.length);
    return byEthertype(u16(frame, 0), 20, 'SLL2');
  },
  announce(header, version) {
    set16(header, 0, ethertypeFor(version));
    return true;
  },
};

/** The family as a number and whether it was little-endian (DLT_NULL: the capturing host's order, read as tcpdump does). */
function nullFamilyValue(frame: Uint8Array, hostOrder: boolean): { family: number; littleEndian: boolean } {
  const be = ((frame[0]! << 24) | (frame[1]! << 16) | (frame[2]! << 8) | frame[3]!) >>> 0;
  // a family is a small number: set bits in the top half mean the other byte order
  if (hostOrder && (be & 0xffff0000) !== 0) {
    return { family: (frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24)) >>> 0, littleEndian: true };
  }
  return { family: be, littleEndian: false };
}

function familyLayer(linkType: number, name: string, hostOrder: boolean): LinkLayer {
  return {
    linkType,
    name,
    locate(frame) {
      if (frame.length < 4) return short(name, 4, frame.length);
      const { family } = nullFamilyValue(frame, hostOrder);
      if (family === AF_INET) return { ipOffset: 4, claimed: 4 };
      if (AF_INET6_VALUES.has(family)) return { ipOffset: 4, claimed: 6 };
      return { reason: 'not-ip', detail: `${name} family ${family}` };
    },
    announce(header, version, options) {
      const { littleEndian } = nullFamilyValue(header, hostOrder);
      const v = version === 4 ? AF_INET : (options.inet6Family ?? DEFAULT_INET6);
      new DataView(header.buffer, header.byteOffset, 4).setUint32(0, v, littleEndian);
      return true;
    },
  };
}

/** Raw IP: no link header; the version is the IP header's own. `only` restricts it (LINKTYPE_IPV4 / IPV6). */
function rawLayer(linkType: number, name: string, only?: IpVersion): LinkLayer {
  return {
    linkType,
    name,
    locate: () => ({ ipOffset: 0, claimed: only }),
    announce: (_header, version) => only === undefined || only === version,
  };
}

export const LINK_LAYERS: readonly LinkLayer[] = [
  familyLayer(0, 'NULL', true),
  ethernet,
  // DLT_RAW is 12 on most systems and 14 on OpenBSD; pcap files should say 101 but some carry the DLT
  rawLayer(12, 'RAW'),
  rawLayer(14, 'RAW'),
  rawLayer(101, 'RAW'),
  // OpenBSD loopback: the family in network byte order
  familyLayer(108, 'LOOP', false),
  sll,
  rawLayer(228, 'IPV4', 4),
  rawLayer(229, 'IPV6', 6),
  sll2,
];

const BY_TYPE = new Map(LINK_LAYERS.map((l) => [l.linkType, l]));

export function linkLayer(linkType: number): LinkLayer | undefined {
  return BY_TYPE.get(linkType);
}

/** Where the IP header starts in a frame of this link type. */
export function locateIp(linkType: number, frame: Uint8Array): LinkFrame | LinkProblem {
  const l = BY_TYPE.get(linkType);
  if (!l) return { reason: 'not-ip', detail: `link type ${linkType} is not supported` };
  return l.locate(frame);
}

/** The DLT_NULL / DLT_LOOP family value of a frame (to learn a capture's AF_INET6 numbering), or undefined for other link types. */
export function linkFamily(linkType: number, frame: Uint8Array): number | undefined {
  if ((linkType !== 0 && linkType !== 108) || frame.length < 4) return undefined;
  return nullFamilyValue(frame, linkType === 0).family;
}
