/**
 * --format=json: every golden dump case converts to a document that parses,
 * validates against the JSON Schema published in docs/json.md, has exactly
 * one entry per message the text dump prints something for, and agrees with
 * that text field by field. Keys appear only with showKeys; random messages
 * never make the converter throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strTime } from '../src/format/ctime.js';
import { dumpJson, JsonDumpWriter, messageJson, stringifyJson, type Json, type JsonEntry, type JsonOptions, type JsonPolicy, type JsonSa } from '../src/format/json.js';
import { postproc } from '../src/format/postproc.js';
import { dumpView, type DumpView } from '../src/pfkey/dump-view.js';
import { GOLDEN, JSON_OPTIONS, read, readBin } from './helpers.js';

const O: JsonOptions = JSON_OPTIONS;
const KEYS: JsonOptions = { ...O, showKeys: true };

// ---------------------------------------------------------------- the schema, from the documentation

const here = dirname(fileURLToPath(import.meta.url));
const DOC_PATH = [join(here, '..', '..', 'docs', 'json.md'), join(here, '..', 'docs', 'json.md')].find((p) => existsSync(p))!;
const DOC = readFileSync(DOC_PATH, 'utf8');
const BLOCKS = [...DOC.matchAll(/(?:<!-- example: (\S+) -->\n)?```json\n([\s\S]*?)\n```/g)].map((m) => ({ example: m[1], text: m[2]! }));
type Schema = { readonly [k: string]: unknown };
const SCHEMA = JSON.parse(BLOCKS.find((b) => b.text.includes('"$schema"'))!.text) as Schema;

/** The keywords the validator below implements (format is an annotation only). */
const KEYWORDS = new Set(['$schema', '$id', 'title', 'description', '$defs', '$ref', 'type', 'properties', 'required', 'additionalProperties', 'enum', 'const', 'items', 'oneOf', 'pattern', 'minimum', 'maximum', 'format']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function resolve(ref: string): Schema {
  const m = /^#\/\$defs\/(.+)$/.exec(ref);
  const s = m ? (SCHEMA.$defs as Record<string, Schema>)[m[1]!] : undefined;
  if (!s) throw new Error(`unresolvable $ref ${ref}`);
  return s;
}

function validateObject(s: Schema, v: Record<string, unknown>, path: string, errs: string[]): void {
  const props = (s.properties ?? {}) as Record<string, Schema>;
  for (const k of (s.required ?? []) as string[]) if (!(k in v)) errs.push(`${path}: missing ${k}`);
  for (const [k, x] of Object.entries(v)) {
    if (props[k]) validate(props[k], x, `${path}.${k}`, errs);
    else if (s.additionalProperties === false) errs.push(`${path}: unexpected key ${k}`);
  }
}

/** The JSON Schema subset in KEYWORDS, with its draft 2020-12 meaning (type-specific keywords ignore other types). */
function validate(s: Schema, v: unknown, path: string, errs: string[]): void {
  if (typeof s.$ref === 'string') validate(resolve(s.$ref), v, path, errs);
  if ('const' in s && v !== s.const) errs.push(`${path}: ${JSON.stringify(v)} is not ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.includes(v)) errs.push(`${path}: ${JSON.stringify(v)} not in enum`);
  if (s.type !== undefined) {
    const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
    const t = typeOf(v);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) errs.push(`${path}: ${t} is not ${types.join('|')}`);
  }
  if (typeof v === 'string' && typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) errs.push(`${path}: ${JSON.stringify(v)} does not match ${s.pattern}`);
  if (typeof v === 'number' && typeof s.minimum === 'number' && v < s.minimum) errs.push(`${path}: ${v} < ${s.minimum}`);
  if (typeof v === 'number' && typeof s.maximum === 'number' && v > s.maximum) errs.push(`${path}: ${v} > ${s.maximum}`);
  if (Array.isArray(v) && s.items) v.forEach((x, i) => validate(s.items as Schema, x, `${path}[${i}]`, errs));
  if (typeOf(v) === 'object') validateObject(s, v as Record<string, unknown>, path, errs);
  if (Array.isArray(s.oneOf)) {
    const n = (s.oneOf as Schema[]).filter((sub) => {
      const e: string[] = [];
      validate(sub, v, path, e);
      return e.length === 0;
    }).length;
    if (n !== 1) errs.push(`${path}: matches ${n} branches of oneOf`);
  }
}

function schemaErrors(v: unknown, s: Schema = SCHEMA): string[] {
  const errs: string[] = [];
  validate(s, v, '$', errs);
  return errs;
}

const ENTRY_SCHEMA: Schema = { $ref: '#/$defs/entry' };

/** Every keyword in the schema, so that one the validator ignores cannot slip in. */
function* keywords(s: unknown): Generator<string> {
  if (typeof s !== 'object' || s === null) return;
  const o = s as Record<string, unknown>;
  for (const k of Object.keys(o)) yield k;
  for (const sub of Object.values((o.$defs ?? {}) as object)) yield* keywords(sub);
  for (const sub of Object.values((o.properties ?? {}) as object)) yield* keywords(sub);
  if (o.items) yield* keywords(o.items);
  for (const sub of (o.oneOf ?? []) as unknown[]) yield* keywords(sub);
}

// ---------------------------------------------------------------- golden cases

const CASES = readdirSync(GOLDEN)
  .filter((d) => /^s[ap]d-/.test(d))
  .sort();

/** msg.bin: concatenated messages, each sadb_msg_len (u16 LE at byte 4) × 8 bytes long. */
function views(name: string): DumpView[] {
  const b = readBin(join(GOLDEN, name, 'msg.bin'));
  const out: DumpView[] = [];
  for (let off = 0; off + 16 <= b.length; ) {
    const len = (b[off + 4]! | (b[off + 5]! << 8)) * 8;
    if (len < 16 || off + len > b.length) break;
    out.push(dumpView(b.subarray(off, off + len), 'linux'));
    off += len;
  }
  return out;
}

interface Doc {
  schema: string;
  keysShown: boolean;
  entries: JsonEntry[];
}

function doc(name: string, o: JsonOptions = O): Doc {
  return JSON.parse(dumpJson(views(name), o)) as Doc;
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** The text dump's block for an SA says what the entry says. */
function checkSaText(e: JsonSa, text: string): void {
  const nat = e.natt !== null && e.natt.type !== 0;
  const port = (p: number | null | undefined): string => (nat && p != null ? `[${p}]` : '');
  const lines = text.split('\n');
  assert.equal(lines[0], `${e.src.address ?? '(null)'}${port(e.natt?.sport)} ${e.dst.address ?? '(null)'}${port(e.natt?.dport)} `);
  assert.equal(lines[1], `\t${e.protocol} mode=${e.mode} spi=${e.spi}(${e.spiHex}) reqid=${e.reqid}(0x${hex8(e.reqid)})`);
  assert.ok(text.includes(`seq=0x${hex8(e.sequence)} replay=${e.replay} flags=0x${hex8(e.flags)} state=${e.state} \n`));
  assert.ok(text.endsWith(`\tsadb_seq=${e.sadbSeq} pid=${e.pid} refcnt=${e.refcnt}\n`));
  if (nat && e.natt!.oa !== null) assert.ok(text.includes(`\tNAT OA=${e.natt!.oa}\n`));
  const cur = e.lifetimes.current;
  if (cur) {
    const created = cur.created === null ? null : BigInt(Date.parse(cur.created) / 1000);
    if (created !== null) assert.ok(text.includes(`\tcreated: ${strTime(created, O.tz)}\t`));
    assert.ok(text.includes(`\tdiff: ${cur.diff}(s)\thard: ${e.lifetimes.hard?.addtime ?? 0}(s)\tsoft: ${e.lifetimes.soft?.addtime ?? 0}(s)\n`));
    assert.ok(text.includes(`\tallocated: ${cur.allocations}\thard: ${e.lifetimes.hard?.allocations ?? 0}\tsoft: ${e.lifetimes.soft?.allocations ?? 0}\n`));
  } else assert.ok(!text.includes('\tcreated: '));
  if (e.securityContext) assert.ok(text.includes(`\tsecurity context doi: ${e.securityContext.doi}\n`) && text.includes(`\tsecurity context: ${e.securityContext.text}\n`));
  if (e.compression) assert.ok(lines[2]!.startsWith('\tC: '));
}

/** The text dump's block for a policy says what the entry says. */
function checkPolicyText(e: JsonPolicy, text: string): void {
  const lines = text.split('\n');
  if (e.selector === null) assert.equal(lines[0], '(no selector, probably per-socket policy) ');
  else if (e.perSocket) assert.equal(lines[0], '(per-socket policy) ');
  else {
    assert.ok(lines[0]!.startsWith(`${e.selector.src.address}`));
    const s = e.selector;
    const upper = s.upperProtocolName ?? String(s.upperProtocol);
    const tail = s.icmpType !== null ? `${upper} ${s.icmpType},${s.icmpCode}` : s.greKey !== null ? `${upper} ${s.greKey}` : upper;
    assert.ok(lines[0]!.endsWith(` ${tail}`), `${lines[0]} ends with ${tail}`);
  }
  if (e.policyError !== null) assert.equal(lines[1], `\tPolicy:[${e.policyError}]`);
  else {
    assert.equal(lines[1], `\t${e.direction} ${e.priorityText === null ? '' : e.priorityText + ' '}${e.action}`);
    if (e.action === 'ipsec') {
      e.requests.forEach((r, i) => {
        const ends = r.tunnel ? `${r.tunnel.src.address}-${r.tunnel.dst.address}` : '';
        const id = r.reqid === 0 ? '' : `${r.reqid > 0x3fff ? '#' : ':'}${r.reqid}`;
        assert.equal(lines[2 + i], `\t${r.protocol}/${r.mode}/${ends}/${r.level}${id}`);
      });
    }
  }
  assert.ok(text.endsWith(`\tspid=${e.id} seq=${e.sadbSeq} pid=${e.pid}\n\trefcnt=${e.refcnt}\n`));
}

/** One message: JSON gives an entry exactly when the text dump prints something, and they agree. */
function checkMessage(v: DumpView, o: JsonOptions): void {
  const text = postproc(v, { ...o, short: false });
  const e = messageJson(v, o);
  assert.equal(e === undefined, text === '', `entry ${e === undefined ? e : stringifyJson(e)} for text ${JSON.stringify(text)}`);
  if (!e) return;
  assert.deepEqual(schemaErrors(JSON.parse(stringifyJson(e)), ENTRY_SCHEMA), []);
  switch (e.kind) {
    case 'sa':
      return checkSaText(e, text);
    case 'policy':
      return checkPolicyText(e, text);
    case 'error':
      return assert.equal(text === '(null).\n' ? '(null).\n' : `${e.message}.\n`, text);
    case 'invalid':
      assert.notEqual(e.code, 'internal');
      if (e.code === 'policy') return assert.match(text, /\tPolicy:\[Invalid /);
      return assert.ok(text.includes(e.code === 'missing-extension' ? `${e.message}.\n` : `${e.message}\n`), text);
  }
}

test('the schema in docs/json.md uses only the keywords the test validator implements', () => {
  assert.equal(SCHEMA.$schema, 'https://json-schema.org/draft/2020-12/schema');
  for (const k of keywords(SCHEMA)) assert.ok(KEYWORDS.has(k), `unsupported keyword ${k}`);
});

test('the validator rejects what the schema forbids', () => {
  const d = doc('sad-esp-tunnel-v4') as unknown as { entries: Record<string, unknown>[] };
  const sa = d.entries[0]!;
  assert.deepEqual(schemaErrors(d), []);
  const broken = [
    { ...sa, spi: undefined },
    { ...sa, extra: 1 },
    { ...sa, spiHex: '0xDEADBEEF' },
    { ...sa, mode: 'sideways' },
    { ...sa, kind: 'policy' },
    { ...sa, encryption: { name: 'aes-cbc', id: 12, keyBits: 128, key: 'zz' } },
    { ...sa, replay: -1 },
  ];
  for (const b of broken) assert.notDeepEqual(schemaErrors({ ...d, entries: [JSON.parse(JSON.stringify(b))] }), [], JSON.stringify(b).slice(0, 80));
});

test('the examples in docs/json.md are the converter output for their golden cases', () => {
  const examples = BLOCKS.filter((b) => b.example);
  assert.equal(examples.length, 2);
  for (const b of examples) assert.equal(b.text + '\n', dumpJson(views(b.example!), O), b.example);
});

for (const name of CASES) {
  test(`json ${name}: parses, validates, one entry per printed message, agrees with the text`, () => {
    const out = dumpJson(views(name), O);
    assert.ok(out.endsWith('}\n'));
    const d = JSON.parse(out) as Doc;
    assert.deepEqual(schemaErrors(d), []);
    assert.equal(d.schema, 'setkey-json/1');
    for (const v of views(name)) {
      checkMessage(v, O);
      checkMessage(v, { ...O, all: true });
    }
    // the counts, straight from the reference's own output file
    const text = read(join(GOLDEN, name, 'out-D.txt'));
    const count = (k: string, code?: string): number => d.entries.filter((e) => e.kind === k && (code === undefined || (e.kind === 'invalid' && e.code === code))).length;
    assert.equal(count('sa'), (text.match(/^\t\S+ mode=/gm) ?? []).length, 'SA entries');
    assert.equal(count('policy') + count('invalid', 'policy'), (text.match(/^\tspid=/gm) ?? []).length, 'policy entries');
    assert.equal(count('error'), (text.match(/^(No SAD entries|No SPD entries|No entry|\(null\)|[A-Z][a-z ]+)\.$/gm) ?? []).filter((l) => !/extension\.$/.test(l)).length, 'errors');
  });
}

test('json -a: DEAD SAs appear only with all', () => {
  const dead = (o: JsonOptions): number => (JSON.parse(dumpJson(views('sad-states'), o)) as Doc).entries.filter((e) => e.kind === 'sa' && e.state === 'dead').length;
  assert.equal(dead(O), 0);
  assert.equal(dead({ ...O, all: true }), (read(join(GOLDEN, 'sad-states', 'out-Da.txt')).match(/state=dead/g) ?? []).length);
  assert.ok(dead({ ...O, all: true }) > 0);
});

// ---------------------------------------------------------------- spot checks

const sas = (name: string, o: JsonOptions = O): JsonSa[] => doc(name, o).entries.filter((e): e is JsonSa => e.kind === 'sa');
const policies = (name: string): JsonPolicy[] => doc(name).entries.filter((e): e is JsonPolicy => e.kind === 'policy');

test('spot check sad-esp-tunnel-v4', () => {
  const [e] = sas('sad-esp-tunnel-v4');
  assert.deepEqual(
    [e!.satype, e!.protocol, e!.src, e!.dst, e!.mode, e!.spi, e!.spiHex, e!.reqid, e!.natt, e!.compression],
    [3, 'esp', { family: 'inet', address: '172.16.0.1', port: 0 }, { family: 'inet', address: '172.16.0.2', port: 0 }, 'tunnel', 3735928559, '0xdeadbeef', 16385, null, null],
  );
  assert.deepEqual(e!.encryption, { name: 'aes-cbc', id: 12, keyBits: 128, key: null });
  assert.deepEqual(e!.authentication, { name: 'hmac-sha1', id: 3, keyBits: 160, key: null });
  assert.deepEqual([e!.sequence, e!.replay, e!.flags, e!.state], [0, 32, 0x40, 'mature']);
  assert.deepEqual(e!.lifetimes.current, { allocations: 0, bytes: 0, addtime: 1700000000, usetime: 0, created: '2023-11-14T22:13:20Z', lastUsed: null, diff: 100 });
  assert.deepEqual([e!.sadbSeq, e!.pid, e!.refcnt], [0, 0, 0]);
  assert.equal(sas('sad-esp-tunnel-v4', KEYS)[0]!.encryption!.key, '000102030405060708090a0b0c0d0e0f');
});

test('spot check sad-natt-esp', () => {
  const [a, b, c] = sas('sad-natt-esp');
  assert.deepEqual([a!.protocol, a!.natt], ['esp-udp', { type: 2, sport: 4500, dport: 4501, oa: null }]);
  assert.deepEqual([b!.protocol, b!.natt, b!.mode], ['esp-udp', { type: 2, sport: 1024, dport: 4500, oa: '10.0.0.5' }, 'transport']);
  // NAT-T type 0: the text dump ignores it (plain esp, no ports), JSON still reports the extension
  assert.deepEqual([c!.protocol, c!.natt, c!.authentication], ['esp', { type: 0, sport: 4500, dport: 4500, oa: null }, null]);
});

test('spot check spd-tunnel-endpoints-natt-ports', () => {
  const [v4, v6] = policies('spd-tunnel-endpoints-natt-ports');
  assert.deepEqual(v4!.selector, {
    src: { family: 'inet', address: '10.0.1.0', prefixlen: 24, port: 0 },
    dst: { family: 'inet', address: '10.0.2.0', prefixlen: 24, port: 0 },
    upperProtocol: 255,
    upperProtocolName: null,
    icmpType: null,
    icmpCode: null,
    greKey: null,
  });
  assert.deepEqual([v4!.id, v4!.perSocket, v4!.direction, v4!.action, v4!.priority, v4!.priorityText, v4!.policyError], [1, false, 'out', 'ipsec', 0x80000000, 'prio def', null]);
  assert.deepEqual(v4!.requests, [
    { protocol: 'esp', mode: 'tunnel', level: 'unique', reqid: 7, tunnel: { src: { family: 'inet', address: '192.0.2.1', port: 4500 }, dst: { family: 'inet', address: '198.51.100.1', port: 4500 } } },
  ]);
  assert.deepEqual([v6!.id, v6!.direction, v6!.selector!.src.address, v6!.selector!.src.prefixlen], [8, 'in', '2001:db8:1::', 48]);
  assert.deepEqual(v6!.requests[0]!.tunnel, { src: { family: 'inet6', address: '2001:db8::a', port: 0 }, dst: { family: 'inet6', address: '2001:db8::b', port: 0 } });
  assert.equal(v6!.requests[0]!.level, 'require');
});

test('spot check spd-priority-variants: priorityText is the text dump word for word', () => {
  const text = read(join(GOLDEN, 'spd-priority-variants', 'out-D.txt'));
  const words = [...text.matchAll(/^\tout (.*?) ?discard$/gm)].map((m) => (m[1] === '' ? null : m[1]));
  const ps = policies('spd-priority-variants');
  assert.deepEqual(
    ps.map((p) => p.priorityText),
    words,
  );
  assert.deepEqual(ps.slice(0, 3).map((p) => p.priority), [0, 0x80000000, 0x80000000 - 10]);
});

test('spot check sad-lifetimes-edge: u64 counters exact, times as ISO or null', () => {
  const out = dumpJson(views('sad-lifetimes-edge'), O);
  // the text rounds these through a double (18446744073709551616); JSON has the exact digits
  assert.match(out, /"bytes": 18446744073709551615,/);
  assert.match(out, /"addtime": 18446744073709551615,/);
  assert.match(out, /"bytes": 12345678901234567890,/);
  assert.match(out, /"bytes": 9007199254740993,/);
  assert.match(out, /"allocations": 4294967295,/);
  assert.match(out, /"diff": 18446744073709551606\n/);
  const e = sas('sad-lifetimes-edge');
  assert.equal(e[0]!.lifetimes.current, null);
  assert.deepEqual([e[1]!.lifetimes.hard, e[1]!.lifetimes.soft], [null, null]);
  assert.deepEqual([e[2]!.lifetimes.current!.created, e[2]!.lifetimes.current!.diff], [null, 0]);
  assert.equal(e[3]!.lifetimes.current!.created, '2023-11-14T22:15:10Z');
  assert.deepEqual([e[5]!.lifetimes.current!.created, e[5]!.lifetimes.current!.lastUsed], [null, '1969-12-31T23:59:59Z']);
  assert.deepEqual([e[6]!.lifetimes.current!.created, e[6]!.lifetimes.current!.lastUsed], ['2023-11-03T08:26:40Z', '2023-11-04T12:13:20Z']);
});

test('spot checks: scopes, ICMP types, per-socket, errors, invalid messages, unknown algorithms', () => {
  assert.equal(sas('sad-ipv6-linklocal-scope')[0]!.src.address, 'fe80::1%lo');
  const icmp = policies('spd-icmp-icmp6-types').map((p) => [p.selector!.upperProtocolName, p.selector!.icmpType, p.selector!.icmpCode]);
  assert.deepEqual(icmp, [
    ['icmp', 8, 0],
    ['ipv6-icmp', 135, 0],
    ['ipv6-icmp', null, null],
    ['mobility-header', 5, 0],
    ['icmp', 0, 3],
  ]);
  assert.deepEqual(
    policies('spd-per-socket-and-no-selector').map((p) => [p.id, p.perSocket, p.selector === null]),
    [
      [12, true, false],
      [17, true, true],
    ],
  );
  const errors = doc('sad-errno-replies').entries.map((e) => (e.kind === 'error' ? e.message : e.kind));
  assert.deepEqual(errors.slice(0, 3), ['No SAD entries', 'No SPD entries', 'No entry']);
  assert.ok(!errors.includes('(null)'));
  assert.deepEqual(
    doc('sad-malformed').entries.map((e) => (e.kind === 'invalid' ? e.code : e.kind)),
    ['version', 'exttype', 'exttype', 'sadbmsg', 'family', 'proto'],
  );
  assert.deepEqual(
    doc('sad-missing-exts').entries.map((e) => (e.kind === 'invalid' ? e.message : e.kind)),
    ['no ADDRESS_SRC extension', 'no ADDRESS_DST extension', 'no SA extension', 'no SA2 extension'],
  );
  const unknown = sas('sad-unknown-satype-and-algs')[0]!;
  assert.deepEqual([unknown.encryption!.name, unknown.encryption!.id, unknown.authentication!.name, unknown.authentication!.id], [null, 99, null, 42]);
  assert.deepEqual(sas('sad-ipcomp-deflate').map((e) => e.compression), [
    { name: 'deflate', id: 2 },
    { name: 'lzs', id: 3 },
    { name: 'oui', id: 1 },
    { name: null, id: 7 },
  ]);
  assert.deepEqual(sas('sad-sec-ctx')[0]!.securityContext, { doi: 1, alg: 1, length: 23, text: 'system_u:object_r:x:s0' });
  const bad = doc('spd-invalid-policy-bodies').entries.map((e) => (e.kind === 'policy' ? e.policyError : e.kind === 'invalid' ? e.code : e.kind));
  assert.deepEqual(bad, ['Invalid direction', 'Invalid security policy', 'Invalid ipsec protocol', 'Invalid ipsec mode', 'Invalid ipsec level', 'policy', 'policy']);
});

// ---------------------------------------------------------------- keys are secrets

/** Every key extension's bytes, as hex, in the golden cases. */
function goldenKeys(): { name: string; hex: string; inSa: boolean }[] {
  const out: { name: string; hex: string; inSa: boolean }[] = [];
  for (const name of CASES) {
    for (const v of views(name)) {
      for (const kind of ['key_encrypt', 'key_auth'] as const) {
        const k = v.ext(kind);
        // short keys (a byte or two) could match unrelated text by chance; the structural check covers them
        if (k && k.data.length >= 4) out.push({ name, hex: Buffer.from(k.data).toString('hex'), inSa: messageJson(v, O)?.kind === 'sa' });
      }
    }
  }
  return out;
}

function keyValues(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) keyValues(x, out);
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) k === 'key' ? out.push(x) : keyValues(x, out);
  return out;
}

function stringValues(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) stringValues(x, out);
  return out;
}

test('keys: absent without showKeys, present with it', () => {
  const keys = goldenKeys();
  assert.ok(keys.length >= 10);
  for (const { name, hex, inSa } of keys) {
    const hidden = dumpJson(views(name), O);
    assert.ok(!hidden.toLowerCase().includes(hex), `${name}: key ${hex} leaked`);
    // any 4 key bytes inside any string value (numbers are decimal, so they are not searched)
    assert.ok(!stringValues(JSON.parse(hidden)).some((s) => s.toLowerCase().includes(hex.slice(0, 8))), `${name}: key bytes ${hex.slice(0, 8)} leaked`);
    // keys of messages that are not SA entries (broken ones, say) are not printed at all
    if (inSa) assert.ok(dumpJson(views(name), KEYS).includes(`"key": "${hex}"`), `${name}: key ${hex} missing`);
  }
  for (const name of CASES) {
    const d = doc(name);
    assert.equal(d.keysShown, false);
    assert.ok(keyValues(d).every((k) => k === null), name);
    assert.ok(keyValues(doc(name, KEYS)).every((k) => k === null || (typeof k === 'string' && /^([0-9a-f]{2})*$/.test(k))), name);
  }
});

test('keys with showKeys: the text dump hex is a prefix of the JSON key', () => {
  for (const name of CASES) {
    for (const v of views(name)) {
      const e = messageJson(v, KEYS);
      if (e?.kind !== 'sa') continue;
      const text = postproc(v, { ...KEYS, short: false });
      for (const [tag, alg] of [
        ['E', e.encryption],
        ['A', e.authentication],
      ] as const) {
        const m = new RegExp(`^\\t${tag}: \\S+ ((?: [0-9a-f]+)*)$`, 'm').exec(text);
        if (!m || !alg) continue;
        assert.ok((alg.key ?? '').startsWith(m[1]!.replaceAll(' ', '')), `${name} ${tag}`);
      }
    }
  }
});

// ---------------------------------------------------------------- serialization and fuzzing

test('stringifyJson matches JSON.stringify(v, null, 2), and writes bigint exactly', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.equal(stringifyJson(v as Json), JSON.stringify(v, null, 2));
    }),
  );
  assert.equal(stringifyJson({ a: [2n ** 64n - 1n, {}], b: [] }), '{\n  "a": [\n    18446744073709551615,\n    {}\n  ],\n  "b": []\n}');
});

const u16le = (n: number): number[] => [n & 255, (n >> 8) & 255];
const u32le = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];

/** An extension: header (length in 8-byte units, type) and body, zero-padded to 8 bytes. */
function ext(type: number, body: number[]): number[] {
  const len = Math.ceil((4 + body.length) / 8) * 8;
  return [...u16le(len / 8), ...u16le(type), ...body, ...new Array<number>(len - 4 - body.length).fill(0)];
}

const byte = fc.integer({ min: 0, max: 255 });
const bytes = (min: number, max: number): fc.Arbitrary<number[]> => fc.array(byte, { minLength: min, maxLength: max });
const port = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 65535 }));
/** Mostly `usual`, sometimes anything from `rare`: keeps most messages decodable while still reaching the error paths. */
const mostly = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 9, arbitrary: usual }, { weight: 1, arbitrary: rare });

type Fam = 'v4' | 'v6' | 'junk';
function sockaddr(fam: Fam): fc.Arbitrary<number[]> {
  if (fam === 'v4') return fc.tuple(port, bytes(4, 4)).map(([p, a]) => [2, 0, p >> 8, p & 255, ...a, 0, 0, 0, 0, 0, 0, 0, 0]);
  if (fam === 'v6') return fc.tuple(port, bytes(16, 16), fc.constantFrom(0, 1, 7)).map(([p, a, s]) => [10, 0, p >> 8, p & 255, 0, 0, 0, 0, ...a, ...u32le(s)]);
  return bytes(0, 30);
}
const anySockaddr = fc.constantFrom<Fam>('v4', 'v6', 'junk').chain(sockaddr);

const request: fc.Arbitrary<number[]> = fc
  .tuple(
    mostly(fc.constantFrom(50, 51, 108), fc.constantFrom(0, 7)),
    mostly(fc.constantFrom(1, 2), fc.constantFrom(0, 3, 9)),
    mostly(fc.constantFrom(0, 1, 2, 3), fc.constant(9)),
    fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0x3fff }), fc.integer({ min: 0x4000, max: 0xffffffff })),
    fc.oneof(fc.constant([] as number[][]), fc.constantFrom<Fam>('v4', 'v6').chain((f) => fc.tuple(sockaddr(f), sockaddr(f))), fc.array(anySockaddr, { maxLength: 2 })),
    mostly(fc.constant(0), fc.integer({ min: -16, max: 16 })),
  )
  .map(([proto, mode, level, reqid, addrs, skew]) => {
    const tail = addrs.flat();
    const len = Math.max(0, 16 + tail.length + skew);
    return [...u16le(len), ...u16le(proto), mode, level, 0, 0, ...u32le(reqid), 0, 0, 0, 0, ...tail];
  });

/** What the two addresses of a message share, as a real kernel would send them. */
interface Ctx {
  readonly fam: Fam;
  readonly proto: number;
}

/** A plausible body for each extension type, so that random messages reach every printer path. */
function body(type: number, c: Ctx): fc.Arbitrary<number[]> {
  switch (type) {
    case 1:
      return fc.tuple(fc.nat(), byte, mostly(fc.constantFrom(0, 1, 2, 3), byte), byte, byte, fc.nat()).map(([spi, replay, state, auth, enc, flags]) => [spi >>> 24, (spi >> 16) & 255, (spi >> 8) & 255, spi & 255, replay, state, auth, enc, ...u32le(flags)]);
    case 2:
    case 3:
    case 4:
      return fc.oneof(bytes(28, 28), fc.constant(new Array<number>(28).fill(255)), fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => [...u32le(a), ...new Array<number>(8).fill(0), ...u32le(b), 0, 0, 0, 0, ...u32le(b), 0, 0, 0, 0]));
    case 5:
    case 6:
      return fc.tuple(byte, sockaddr(c.fam)).map(([l, sa]) => [c.proto, l, 0, 0, ...sa]);
    case 23:
      return anySockaddr.map((sa) => [0, 0, 0, 0, ...sa]);
    case 8:
    case 9:
      return fc.tuple(fc.integer({ min: 0, max: 600 }), bytes(0, 40)).map(([bits, d]) => [...u16le(bits), 0, 0, ...d]);
    case 18:
      return fc
        .tuple(mostly(fc.constantFrom(0, 1, 2, 2, 4), fc.constantFrom(3, 9)), mostly(fc.constantFrom(0, 1, 2, 3, 4, 5), fc.constant(7)), fc.integer({ min: 0, max: 200 }), fc.constantFrom(0, 0x80000000, 0x40000005, 0xc0000000, 123), fc.array(request, { maxLength: 3 }))
        .map(([pt, dir, id, prio, reqs]) => [...u16le(pt), dir, 0, ...u32le(id), ...u32le(prio), ...reqs.flat()]);
    case 19:
      return fc.tuple(fc.constantFrom(0, 1, 2, 3), fc.nat(), fc.nat()).map(([mode, seq, reqid]) => [mode, 0, 0, 0, ...u32le(seq), ...u32le(reqid)]);
    case 20:
      return fc.constantFrom([0, 0, 0, 0], [2, 0, 0, 0], [1, 0, 0, 0]);
    case 21:
    case 22:
      return port.map((p) => [p >> 8, p & 255, 0, 0]);
    case 24:
      return fc.tuple(byte, byte, fc.string({ maxLength: 20 })).map(([alg, doi, s]) => [alg, doi, ...u16le(s.length + 1), ...Buffer.from(s + '\0', 'latin1')]);
    default:
      return bytes(0, 20);
  }
}

/** Message shapes: an SA reply, a policy reply, or anything. */
const PROFILES = {
  sa: { types: [5, 10], satypes: [2, 3, 3, 9, 0], required: [1, 5, 6, 19], optional: [2, 3, 4, 8, 9, 20, 21, 22, 23, 24] },
  spd: { types: [16, 18], satypes: [0], required: [5, 6, 18], optional: [2, 3, 4, 24] },
  chaos: { types: [5, 10, 16, 18, 3, 24], satypes: [0, 2, 3, 9, 1, 11, 5, 200], required: [], optional: [1, 2, 3, 4, 5, 6, 8, 9, 18, 19, 20, 21, 22, 23, 24] },
};

const message: fc.Arbitrary<Uint8Array> = fc
  .constantFrom(...Object.values(PROFILES))
  .chain((p) =>
    fc.tuple(
      mostly(fc.constant(2), fc.constant(1)),
      fc.constantFrom(...p.types),
      mostly(fc.constant(0), fc.constantFrom(2, 17, 200)),
      fc.constantFrom(...p.satypes),
      fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.nat(), fc.nat()),
      fc
        .tuple(fc.subarray(p.optional), mostly(fc.constantFrom<Fam>('v4', 'v6'), fc.constant<Fam>('junk')), fc.constantFrom(0, 1, 6, 17, 47, 58, 135, 255))
        .chain(([opt, fam, proto]) => {
          // a missing required extension now and then
          const types = [...p.required, ...opt].sort((a, b) => a - b);
          return fc.tuple(...types.map((t) => body(t, { fam, proto }).map((b) => ext(t, b))));
        }),
      mostly(fc.constant([] as number[]), fc.oneof(fc.constant([255, 255, 255, 255]), bytes(1, 12))),
    ),
  )
  .map(([version, type, errno, satype, [reserved, seq, pid], exts, junk]) => {
    // occasionally a stray tail after the extensions
    const rest = [...exts.flat(), ...junk];
    const len = Math.ceil((16 + rest.length) / 8);
    const m = new Uint8Array(len * 8);
    m.set([version, type, errno, satype, ...u16le(len), ...u16le(reserved), ...u32le(seq), ...u32le(pid)]);
    m.set(rest, 16);
    return m;
  });

/** The converter's contract for any message: no throw, valid JSON, a schema-valid entry, no key material, postproc's choice. */
function fuzzOne(b: Uint8Array): void {
  const v = dumpView(b, 'linux');
  const e = messageJson(v, O);
  if (e === undefined) return;
  const parsed: unknown = JSON.parse(stringifyJson(e));
  assert.deepEqual(schemaErrors(parsed, ENTRY_SCHEMA), []);
  assert.ok(!(e.kind === 'invalid' && e.code === 'internal'), e.kind === 'invalid' ? e.message : '');
  assert.ok(keyValues(parsed).every((k) => k === null));
  const text = dumpJson([v], KEYS);
  assert.ok(JSON.parse(text));
  // the CLI's bytes are this very text (json-bytes.test.ts covers the writer itself)
  assert.equal(writtenText(v, KEYS), text);
}

function writtenText(v: DumpView, o: JsonOptions): string {
  const parts: Buffer[] = [];
  const w = new JsonDumpWriter(o, (b) => parts.push(Buffer.from(b)));
  w.push(v);
  w.end();
  return Buffer.concat(parts).toString('latin1');
}

test('fuzz: arbitrary bytes never make messageJson throw and always give valid JSON', () => {
  // dumpView itself needs a 16-byte header
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 400 }), fuzzOne), { numRuns: 2000 });
});

test('fuzz: structured messages never make messageJson throw; entries exactly where the text dump prints', () => {
  fc.assert(
    fc.property(message, (b) => {
      fuzzOne(b);
      const v = dumpView(b, 'linux');
      let text: string;
      try {
        text = postproc(v, { ...O, short: false });
      } catch {
        // the text printer has its own failure modes (see the report); JSON must not share them
        return;
      }
      assert.equal(messageJson(v, O) === undefined, text === '');
    }),
    { numRuns: 3000 },
  );
});
