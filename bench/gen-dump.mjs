// Writes a PF_KEY message file of N dump entries as a Linux kernel would send them:
// half SAs (aes-cbc + hmac-sha256, lifetimes), half policies (tunnel templates).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
const { parse } = await import(join(dist, 'syntax', 'parser.js'));
const { makeSystemDb } = await import(join(dist, 'syntax', 'sysdb.js'));
const { commandToWire } = await import(join(dist, 'pfkey', 'to-wire.js'));
const { serialize } = await import(join(dist, 'pfkey', 'serialize.js'));
const { statements } = await import('./gen-statements.mjs');

/** `n` dump entries: half SAs, half policies; `only` keeps one kind (n of it). */
export function dumpFile(n = 100000, only) {
  const sys = makeSystemDb();
  const text = statements(only ? 2 * n : n)
    .split('\n')
    .filter((l) => !only || l.startsWith(only === 'sad' ? 'add ' : 'spdadd '))
    .join('\n');
  const r = parse(text, { file: 'gen', sys });
  const parts = [];
  let seq = r.statements.length;
  for (const st of r.statements) {
    const m = commandToWire(st.cmd, { pid: 0 }).messages[0];
    const isSa = st.cmd.kind === 'add';
    m.header.type = isSa ? 10 : 18;
    m.header.seq = --seq;
    if (isSa) {
      for (const e of m.exts) if (e.kind === 'sa') e.state = 1;
      m.exts.push({ kind: 'lifetime_current', allocations: 0, bytes: 123456n, addtime: 1700000000n, usetime: 1700000050n });
      m.exts.push({ kind: 'lifetime_hard', allocations: 0, bytes: 0n, addtime: 3600n, usetime: 0n }, { kind: 'lifetime_soft', allocations: 0, bytes: 0n, addtime: 2880n, usetime: 0n });
    } else {
      for (const e of m.exts) if (e.kind === 'policy') e.id = 8 * seq + 1;
      m.exts.push({ kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: 1700000000n, usetime: 0n });
    }
    parts.push(serialize(m));
  }
  return Buffer.concat(parts);
}

if (process.argv[2]) writeFileSync(process.argv[2], dumpFile(Number(process.argv[3] ?? 100000), process.argv[4]));
