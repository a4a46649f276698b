import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StatementSplitter } from '../src/cli/splitter.js';

function split(chunks: string[]): { stmt: string; line: number }[] {
  const s = new StatementSplitter();
  const out: { stmt: string; line: number }[] = [];
  const take = (x: { text: string; start: number; firstLine: number }): void => {
    const body = x.text.slice(x.start);
    const lead = body.length - body.trimStart().length;
    // the line of the statement's first character
    out.push({ stmt: body.trim(), line: x.firstLine + x.text.slice(0, x.start + lead).split('\n').length - 1 });
  };
  for (const c of chunks) {
    s.push(c);
    for (let x = s.next(); x; x = s.next()) take(x);
  }
  const rest = s.end();
  if (rest) take(rest);
  return out;
}

test('splits at ; outside quotes and comments, with line numbers', () => {
  const text = 'a "x;y";\n# not ; a statement\nb\n c; d;\n\ne';
  assert.deepEqual(split([text]), [
    { stmt: 'a "x;y";', line: 1 },
    { stmt: '# not ; a statement\nb\n c;', line: 2 },
    { stmt: 'd;', line: 4 },
    { stmt: 'e', line: 6 },
  ]);
});

test('the split does not depend on how the input is chunked', () => {
  const text = 'add a b "k;#";\n# c ; d\nflush;\nspd "q\n;" ; x';
  const whole = split([text]).map((x) => x.stmt);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 8 }), (cuts) => {
      const pts = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: string[] = [];
      let prev = 0;
      for (const p of pts) {
        chunks.push(text.slice(prev, p));
        prev = p;
      }
      chunks.push(text.slice(prev));
      assert.deepEqual(split(chunks).map((x) => x.stmt), whole);
    }),
  );
});
