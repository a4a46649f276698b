/**
 * The commands of the setkey language, after parsing and validation.
 * `A` is the address type: the parser yields host names where the text had them
 * (HostRef); resolution turns every command into Command<IpAddress>.
 */
import type { Endpoint, IpAddress } from './address.js';
import type { PolicyRule, Selector } from './policy.js';
import type { SaParams, SecCtx } from './sa.js';

/** Where a statement stands in its source. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** line of the terminating ';' (what the reference names in "The result of line N") */
  readonly endLine: number;
}

/** The position of a command that no source text gave (-D, -F, a decoded message). */
export const NO_POS: SourcePos = { file: '<command line>', line: 0, col: 0, endLine: 0 };

export interface AddCommand {
  readonly kind: 'add' | 'update';
  readonly pos: SourcePos;
  readonly sa: SaParams;
}

/** get / delete, and getspi (spi 0 or a range: the kernel picks) */
export interface SaRefCommand {
  readonly kind: 'get' | 'delete' | 'getspi';
  readonly pos: SourcePos;
  readonly sa: SaParams;
  /** getspi only: SPI range to allocate from */
  readonly spiRange?: { readonly min: number; readonly max: number };
}

export interface DeleteAllCommand {
  readonly kind: 'deleteall';
  readonly pos: SourcePos;
  readonly satype: number;
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** sadb_sa_flags the statement carried (esp-old sets OLD) */
  readonly flags: number;
}

export interface SatypeCommand {
  readonly kind: 'flush' | 'dump';
  readonly pos: SourcePos;
  /** 0 = all */
  readonly satype: number;
}

export interface PolicyCommand {
  readonly kind: 'spdadd' | 'spdupdate' | 'spddelete';
  readonly pos: SourcePos;
  /** absent for `tagged` policies */
  readonly selector?: Selector;
  /** `spdadd tagged "name"` (PF tags; Linux has no tag extension) */
  readonly tag?: string;
  readonly policy: PolicyRule;
  readonly ctx?: SecCtx;
  /** the RFC-mode forward copy of an inbound policy (Linux) */
  readonly fwdCopy?: boolean;
}

export interface BareCommand {
  readonly kind: 'spdflush' | 'spddump' | 'exit';
  readonly pos: SourcePos;
}

export type Command = AddCommand | SaRefCommand | DeleteAllCommand | SatypeCommand | PolicyCommand | BareCommand;

export type { Endpoint };
