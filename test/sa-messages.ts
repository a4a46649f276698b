// SA dump entries as the engine or a kernel sends them, and now and then what is out of the ordinary:
// the inputs of the shortcuts that print SAs from their bytes (format/sadump-bytes.ts, sa-script-bytes.ts).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { serialize } from '../src/pfkey/serialize.js';
import type { SadbExt, SadbMsg } from '../src/pfkey/types.js';

export const NOW = 1700000100;

const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: BigInt(NOW) }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom((1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n));
const lifetime = (kind: 'lifetime_current' | 'lifetime_hard' | 'lifetime_soft') =>
  fc.record({ allocations: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })), bytes: u64, addtime: u64, usetime: u64 }).map((l) => ({ kind, ...l }) as SadbExt);
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const address = (kind: 'address_src' | 'address_dst' | 'address_proxy', proto: number) =>
  fc.oneof(
    { weight: 6, arbitrary: v4.map((addr) => ({ family: 2, addr })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((addr) => ({ family: 10, addr })) },
  )
    .chain((a) => fc.tuple(fc.constant(a), fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) })))
    .map(([a, port]) => ({ kind, proto, prefixlen: 32, reserved: 0, sa: { family: a.family, port, addr: a.addr, flowinfo: 0, scopeId: 0 } }) as SadbExt);
const key = (kind: 'key_auth' | 'key_encrypt') =>
  fc.integer({ min: 0, max: 80 }).chain((bytes) =>
    fc.record({ data: fc.uint8Array({ minLength: bytes, maxLength: bytes }), bits: fc.oneof({ weight: 5, arbitrary: fc.constant(bytes * 8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: bytes * 8 + 16 }) }) }),
  ).map((k) => ({ kind, bits: k.bits, reserved: 0, data: k.data }) as SadbExt);

/** An SA dump entry as the engine or a kernel sends it, now and then with what the writer must decline. */
export const saDumpMessage: fc.Arbitrary<SadbMsg> = fc
  .record({
    type: fc.oneof({ weight: 8, arbitrary: fc.constant(10) }, { weight: 1, arbitrary: fc.constantFrom(5, 3, 18) }),
    errno: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(2) }),
    satype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(2, 3, 9) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 4, 11) }),
    seq: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
    pid: fc.nat({ max: 0xffffffff }),
    reserved: fc.nat({ max: 0xffff }),
    sa: fc.record({ spi: fc.nat({ max: 0xffffffff }), replay: fc.nat({ max: 255 }), state: fc.nat({ max: 4 }), auth: fc.constantFrom(0, 2, 3, 5, 6, 7, 250, 251, 99), encrypt: fc.constantFrom(0, 1, 2, 3, 11, 12, 20, 99), flags: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0x40, 0x1, 0x200, 0x80000000) }, { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) }) }),
    sa2: fc.record({ mode: fc.nat({ max: 4 }), sequence: fc.nat({ max: 0xffffffff }), reqid: fc.nat({ max: 0xffffffff }) }),
    cur: fc.option(lifetime('lifetime_current'), { freq: 8 }),
    hard: fc.option(lifetime('lifetime_hard')),
    soft: fc.option(lifetime('lifetime_soft')),
    proto: fc.constantFrom(0, 0, 0, 6, 255),
    proto2: fc.constantFrom(0, 0, 0, 0, 6),
    proxy: fc.boolean(),
    akey: fc.option(key('key_auth')),
    ekey: fc.option(key('key_encrypt')),
    natt: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(0, 2) }),
    shuffle: fc.nat(),
  })
  .chain((r) =>
    fc.tuple(fc.constant(r), address('address_src', r.proto), address('address_dst', r.proto === 0 ? r.proto2 : r.proto), address('address_proxy', 255)),
  )
  .map(([r, src, dst, proxy]) => {
    const exts: SadbExt[] = [{ kind: 'sa', ...r.sa }];
    for (const l of [r.hard, r.soft, r.cur]) if (l) exts.push(l);
    exts.push(src, dst);
    if (r.proxy) exts.push(proxy);
    if (r.akey) exts.push(r.akey);
    if (r.ekey) exts.push(r.ekey);
    exts.push({ kind: 'sa2', mode: r.sa2.mode, reserved1: 0, reserved2: 0, sequence: r.sa2.sequence, reqid: r.sa2.reqid });
    if (r.natt !== undefined) exts.push({ kind: 'nat_t_type', natType: r.natt }, { kind: 'nat_t_sport', port: 4500 }, { kind: 'nat_t_dport', port: 4500 });
    // the order of the extensions is the sender's: the text must not depend on it
    if (r.shuffle % 3 === 0) exts.reverse();
    return { header: { version: 2, type: r.type, errno: r.errno, satype: r.satype, reserved: r.reserved, seq: r.seq, pid: r.pid }, exts };
  });


/** SAs of the common shape (the ones the shortcuts are for): plausible fields, whole keys, every choice they print. */
export const commonSaMessage: fc.Arbitrary<SadbMsg> = fc
  .record({
    satype: fc.constantFrom(2, 3, 3),
    seq: fc.nat({ max: 0xffffffff }),
    pid: fc.nat({ max: 0xffffffff }),
    spi: fc.nat({ max: 0xffffffff }),
    replay: fc.oneof(fc.constant(0), fc.nat({ max: 255 })),
    state: fc.constantFrom(1, 1, 2),
    enc: fc.constantFrom(0, 2, 3, 11, 12, 12),
    auth: fc.constantFrom(0, 2, 3, 5, 5, 251),
    ekey: fc.integer({ min: 1, max: 40 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    akey: fc.integer({ min: 1, max: 64 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    mode: fc.constantFrom(0, 1, 2),
    reqid: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
    hard: fc.option(fc.record({ bytes: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 64n) - 1n })), addtime: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 1n << 40n })) })),
    soft: fc.option(fc.record({ bytes: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 1n << 40n })), addtime: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 64n) - 1n })) })),
    created: fc.oneof(fc.bigInt({ min: 1n, max: BigInt(NOW) }), fc.constant(0n)),
    src: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    dst: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    proxy: fc.boolean(),
    // now and then what the shortcuts must decline: SA flags, upper protocols that differ
    flags: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 0x40) }, { weight: 1, arbitrary: fc.constantFrom(0x41, 0x1, 0x100, 0x240, 0x80000000) }),
    protos: fc.oneof({ weight: 6, arbitrary: fc.constant([0, 0]) }, { weight: 1, arbitrary: fc.constantFrom([6, 6], [0, 6], [17, 0]) }),
    // an extension sent twice (pfkey_align refuses it)
    twice: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  })
  .map((r) => {
    const addr = (kind: 'address_src' | 'address_dst' | 'address_proxy', a: Uint8Array): SadbExt => ({ kind, proto: kind === 'address_proxy' ? 255 : kind === 'address_src' ? r.protos[0]! : r.protos[1]!, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: a, flowinfo: 0, scopeId: 0 } });
    const exts: SadbExt[] = [{ kind: 'sa', spi: r.spi, replay: r.replay, state: r.state, auth: r.auth, encrypt: r.satype === 3 ? r.enc || 12 : r.enc, flags: r.flags }];
    if (r.hard) exts.push({ kind: 'lifetime_hard', allocations: 0, usetime: 0n, ...r.hard });
    if (r.soft) exts.push({ kind: 'lifetime_soft', allocations: 0, usetime: 0n, ...r.soft });
    exts.push({ kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: r.created, usetime: 0n }, addr('address_src', r.src), addr('address_dst', r.dst));
    if (r.proxy) exts.push(addr('address_proxy', new Uint8Array(4)));
    if (r.auth && r.auth !== 251) exts.push({ kind: 'key_auth', bits: r.akey.length * 8, reserved: 0, data: r.akey });
    if (r.satype === 3 && r.enc !== 11) exts.push({ kind: 'key_encrypt', bits: r.ekey.length * 8, reserved: 0, data: r.ekey });
    exts.push({ kind: 'sa2', mode: r.mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: r.reqid });
    if (r.twice !== null) exts.push(exts[r.twice % exts.length]!);
    return { header: { version: 2, type: 10, errno: 0, satype: r.satype, reserved: 0, seq: r.seq, pid: r.pid }, exts };
  });

/** The bytes of messages from `messages`, damaged: one to four bytes changed, and now and then cut short. */
export function damaged(messages: fc.Arbitrary<SadbMsg>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(messages, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat())).map(([m, flips, cut]) => {
    const b = serialize(m, 'linux');
    for (const [at, v] of flips) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });
}

/** A printer that writes an entry's text straight from its bytes (format/sadump-bytes.ts, spdump-bytes.ts). */
export interface BytesWriter {
  take(m: Uint8Array): number;
  flush(): void;
}

/**
 * Whether the writer `make` makes answers message `m`; if it does, its text
 * and seq are postproc's (the definition), and if not, it wrote nothing.
 */
export function writerAgrees(make: (o: PostprocOptions, sink: (b: Uint8Array) => void) => BytesWriter, m: Uint8Array, o: PostprocOptions): boolean {
  const out: Uint8Array[] = [];
  const w = make(o, (b) => out.push(Uint8Array.from(b)));
  const seq = w.take(m);
  w.flush();
  if (seq < 0) {
    assert.equal(out.length, 0, 'a declined message writes nothing');
    return false;
  }
  const v = dumpView(m, o.platform);
  assert.equal(Buffer.concat(out).toString('latin1'), postproc(v, o));
  assert.equal(seq, v.header.seq);
  return true;
}
