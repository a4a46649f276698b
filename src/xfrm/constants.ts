/**
 * NETLINK_XFRM numbers (include/uapi/linux/xfrm.h, include/uapi/linux/netlink.h)
 * and the fixed struct sizes of the x86-64 / arm64 ABI (the kernel lays them
 * out with natural alignment; 32-bit x86 userland differs and is refused).
 */

/** Netlink message types of XFRM (xfrm.h enum, from XFRM_MSG_BASE 0x10). */
export const XfrmMsg = {
  NEWSA: 0x10,
  DELSA: 0x11,
  GETSA: 0x12,
  NEWPOLICY: 0x13,
  DELPOLICY: 0x14,
  GETPOLICY: 0x15,
  ALLOCSPI: 0x16,
  ACQUIRE: 0x17,
  EXPIRE: 0x18,
  UPDPOLICY: 0x19,
  UPDSA: 0x1a,
  POLEXPIRE: 0x1b,
  FLUSHSA: 0x1c,
  FLUSHPOLICY: 0x1d,
  NEWAE: 0x1e,
  GETAE: 0x1f,
  REPORT: 0x20,
  MIGRATE: 0x21,
  NEWSADINFO: 0x22,
  GETSADINFO: 0x23,
  MAPPING: 0x26,
} as const;

/** XFRMA_* attribute types. */
export const Xfrma = {
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ALG_COMP: 3,
  ENCAP: 4,
  TMPL: 5,
  SA: 6,
  POLICY: 7,
  SEC_CTX: 8,
  LTIME_VAL: 9,
  REPLAY_VAL: 10,
  REPLAY_THRESH: 11,
  ETIMER_THRESH: 12,
  SRCADDR: 13,
  COADDR: 14,
  LASTUSED: 15,
  POLICY_TYPE: 16,
  MIGRATE: 17,
  ALG_AEAD: 18,
  KMADDRESS: 19,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
  TFCPAD: 22,
  REPLAY_ESN_VAL: 23,
  SA_EXTRA_FLAGS: 24,
  PROTO: 25,
  ADDRESS_FILTER: 26,
  PAD: 27,
  OFFLOAD_DEV: 28,
  SET_MARK: 29,
  SET_MARK_MASK: 30,
  IF_ID: 31,
  MTIMER_THRESH: 32,
  SA_DIR: 33,
} as const;

/** Multicast groups (enum xfrm_nlgroups): what `ip xfrm monitor` joins. */
export const XfrmGroup = { ACQUIRE: 1, EXPIRE: 2, SA: 3, POLICY: 4, AEVENTS: 5, REPORT: 6, MIGRATE: 7, MAPPING: 8 } as const;

/** XFRM_MODE_*: not PF_KEY's IPSEC_MODE_* numbering. */
export const XfrmMode = { TRANSPORT: 0, TUNNEL: 1, ROUTEOPTIMIZATION: 2, IN_TRIGGER: 3, BEET: 4 } as const;

/** XFRM_POLICY_IN/OUT/FWD: PF_KEY's direction minus one. */
export const XfrmDir = { IN: 0, OUT: 1, FWD: 2 } as const;
export const XfrmAction = { ALLOW: 0, BLOCK: 1 } as const;

/** xfrm_usersa_info.flags */
export const XfrmStateFlag = { NOECN: 1, DECAP_DSCP: 2, NOPMTUDISC: 4, WILDRECV: 8, ICMP: 16, AF_UNSPEC: 32, ALIGN4: 64, ESN: 128 } as const;

export const XFRM_INF = 0xffffffffffffffffn;
export const XFRMA_REPLAY_ESN_MAX = 4096;

/** Netlink framing (netlink.h). */
export const Nlmsg = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;
export const NlmF = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  /** in an NLMSG_ERROR: the request was not echoed whole (NETLINK_CAP_ACK) */
  CAPPED: 0x100,
  /** in an NLMSG_ERROR: extended-ack attributes follow */
  ACK_TLVS: 0x200,
} as const;
/** NLMSGERR_ATTR_*: the extended ack's text and the offending attribute's offset */
export const NlmsgerrAttr = { MSG: 1, OFFS: 2 } as const;

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;

/** Fixed struct sizes (bytes). */
export const XSize = {
  address: 16,
  selector: 56,
  id: 24,
  lifetimeCfg: 64,
  lifetimeCur: 32,
  stats: 12,
  usersaInfo: 224,
  usersaId: 24,
  userspiInfo: 232,
  userpolicyInfo: 168,
  userpolicyId: 64,
  userTmpl: 64,
  algo: 68,
  algoAuth: 72,
  algoAead: 72,
  encapTmpl: 24,
  replayState: 12,
  replayStateEsn: 24,
  mark: 8,
  userSecCtx: 8,
  userExpire: 232,
  userPolexpire: 176,
  usersaFlush: 1,
  userpolicyType: 6,
  userAcquire: 280,
} as const;

export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_COMP = 108;
