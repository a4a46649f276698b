// Writes the benchmark input: n/2 `add` (rijndael-cbc + hmac-sha256 keys) and n/2 `spdadd` with tunnel
// templates, every SA and every policy distinct (also past 65,536 of each).
import { writeFileSync } from 'node:fs';

export function statements(n = 100000) {
  const out = [];
  const hex = (i, bytes) => (i.toString(16).padStart(8, '0')).repeat(bytes / 4);
  for (let i = 0; i < n / 2; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const b = `172.16.${(i >> 8) & 255}.${i & 255}`;
    out.push(`add ${a} ${b} esp 0x${(0x10000 + i).toString(16)} -m tunnel -u ${i + 1} -E rijndael-cbc 0x${hex(i, 16)} -A hmac-sha256 0x${hex(i + 7, 32)};`);
  }
  for (let i = 0; i < n / 2; i++) {
    // distinct selectors up to 4M policies (the third octet alone wrapped at 65,536)
    const s = `10.${(i >> 8) & 255}.${i & 255}.0/24`;
    const d = `192.${168 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}/32`;
    out.push(`spdadd ${s} ${d} any -P out ipsec esp/tunnel/198.51.100.${i & 255}-203.0.113.${(i >> 8) & 255}/require;`);
  }
  return out.join('\n') + '\n';
}

if (process.argv[2]) writeFileSync(process.argv[2], statements(Number(process.argv[3] ?? 100000)));
