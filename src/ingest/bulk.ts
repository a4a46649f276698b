/**
 * A large file of new SAs and policies, loaded into the embedded engine at
 * once. Applied the usual way, each statement was parsed into a command,
 * encoded as the PF_KEY message setkey sends, decoded again by the engine,
 * and its records put into the store's transaction one by one (an apply of
 * 100k SAs + 100k policies: about 25 times the time of checking the file).
 * Here each statement is read by scan.ts into numbers, and the engine
 * stores it as its request would be stored, writing its records directly,
 * into the store as one sorted layer (Engine.bulk, engine/bulk-load.ts).
 *
 * The load takes the file whole or not at all: at the first statement it
 * does not read, and wherever the engine could not say what sending the
 * requests one by one would do, it is given up with nothing kept, and the
 * file is applied the usual way, which reports as ever.
 *
 * A file is read once where the check can hand each statement over as it
 * finds it clean (Statements, fed by cli/script.ts); loadText reads a text
 * of its own (a library's caller, a script from stdin).
 */
import { Dir, Level } from '../model/tables.js';
import type { BulkLoader, BulkPolicy } from '../engine/bulk-load.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { QuickCheck } from '../syntax/quick.js';
import type { SystemDb } from '../syntax/sysdb.js';
import { bulkPolicy, bulkSa, scanStatement } from './scan.js';
import { readPolicyBytes } from './scan-bytes.js';

/** A statement the load does not read: it is given up. */
export class NotBulk extends BulkConflict {}

const HASH = 35;
const A = 97;
const S = 115;

/** Past the text between statements: blanks and comments (lexer.ts: '#' to the end of the line); a comment not ended in `src` is where this stops. */
function skipBetween(src: string, i: number): number {
  for (;;) {
    const c = src.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) i++;
    else if (c === HASH) {
      const nl = src.indexOf('\n', i);
      if (nl < 0) return i;
      i = nl + 1;
    } else return i;
  }
}

/**
 * Statements read into a load one at a time, as they stand in a text,
 * RFC mode's forward copies after their inbound policies.
 */
export class Statements {
  private readonly sa = bulkSa();
  private readonly p = bulkPolicy();
  /** the text the statements taken next stand in, and its bytes (text()) */
  private src: string | undefined;
  private bytes: Uint8Array | undefined;

  constructor(
    private readonly load: BulkLoader,
    /** the quick check, or 'checked': the caller hands over only what its own found clean */
    private readonly quick: QuickCheck | 'checked',
    private readonly rfcMode: boolean,
    /** with 'checked': the check of the policies the caller hands over unchecked (then it may: defers) */
    private readonly deferredCheck?: QuickCheck,
  ) {
    this.saText = quick === 'checked' ? load.saText : undefined;
  }

  /** where SAs go as text (BulkLoader.saText), for statements checked by the caller only */
  private readonly saText: ((src: string, start: number, semi: number, unchecked: boolean) => void) | undefined;

  /** What may be taken unchecked (take's `unchecked`): SAs where the load checks those it reads apart, policies where this has their check. */
  get defers(): { readonly adds: boolean; readonly spdadds: boolean } {
    return { adds: this.saText !== undefined, spdadds: this.quick === 'checked' && this.deferredCheck !== undefined };
  }

  /**
   * The text the statements taken next stand in (BulkLoader.text), and its
   * bytes where known (a char a byte: policies are read from them, valid
   * until the next text).
   */
  text(src: string, bytes?: Uint8Array): void {
    this.src = src;
    this.bytes = bytes;
    this.load.text?.(src, bytes);
  }

  /** To be awaited between pieces of text (BulkLoader.paced). */
  paced(): Promise<void> | undefined {
    return this.load.paced?.();
  }

  /**
   * The statement whose first word is at `start` and whose ';' is at
   * `semi`; throws NotBulk if the load does not read it. `unchecked`: one
   * the caller did not check (defers).
   */
  take(src: string, start: number, semi: number, unchecked = false): void {
    const c = src.charCodeAt(start);
    // an SA the load reads apart (a worker), as text: what the check found clean it reads as this module does
    if (this.saText !== undefined && c === A) return this.saText(src, start, semi, unchecked);
    const p = this.p;
    let kind: 'sa' | 'policy' | false;
    // a policy read from the bytes, its check and its reading in one (scan-bytes.ts); else the quick check first, where the caller did not
    if (c === S && this.bytes !== undefined && src === this.src && readPolicyBytes(this.bytes, start, semi, p)) kind = 'policy';
    else if (!unchecked) kind = scanStatement(this.quick, src, start, semi, this.sa, p);
    else if (c === S && this.deferredCheck !== undefined) kind = scanStatement(this.deferredCheck, src, start, semi, this.sa, p);
    else throw new Error('a statement taken unchecked by a load that does not check it');
    if (kind === 'sa') this.load.sa(this.sa);
    else if (kind === 'policy') {
      this.load.policy(p);
      if (this.rfcMode && p.dir === Dir.IN) this.load.policy(forwardCopy(p));
    } else throw new NotBulk('a statement the bulk load does not read');
  }
}

/**
 * Load a file's text: chunks as read (one char per byte), each statement
 * handed to `load` as it is read, RFC mode's forward copies after their
 * inbound policies. Throws NotBulk at the first statement the load does
 * not read.
 */
export async function loadText(chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, load: BulkLoader, sys: SystemDb, opts: { readonly rfcMode: boolean; readonly onStatements?: (n: number) => void }): Promise<void> {
  const statements = new Statements(load, QuickCheck.for(sys), opts.rfcMode);
  let rest = '';
  // inside a comment begun in an earlier chunk (its text is not kept: a comment line may be megabytes long)
  let inComment = false;
  for await (const chunk of chunks) {
    let text = rest + (typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1'));
    if (inComment) {
      const nl = text.indexOf('\n');
      if (nl < 0) continue;
      text = text.slice(nl + 1);
      inComment = false;
    }
    let i = 0;
    let n = 0;
    for (;;) {
      i = skipBetween(text, i);
      // a comment or a statement that goes on in the next chunk waits for it
      const semi = text.indexOf(';', i);
      if (semi < 0 || text.charCodeAt(i) === HASH) break;
      statements.take(text, i, semi);
      i = semi + 1;
      // told every 64 statements (progress counts them as the usual apply counts its commands)
      if (++n === 64) {
        opts.onStatements?.(n);
        n = 0;
      }
    }
    inComment = text.charCodeAt(i) === HASH;
    rest = inComment ? '' : text.slice(i);
    if (n) opts.onStatements?.(n);
  }
  if (skipBetween(rest, 0) < rest.length) throw new NotBulk('text after the last statement');
}

/**
 * RFC mode's forward copy of an inbound policy (model/rfc-mode.ts
 * forwardCopy): direction fwd, and a `unique` level of the first request
 * becomes `require` with reqid 0. `p` is made the copy.
 */
function forwardCopy(p: BulkPolicy): BulkPolicy {
  p.dir = Dir.FWD;
  const t = p.templates[0]!;
  if (p.count > 0 && t.level === Level.UNIQUE) {
    t.level = Level.REQUIRE;
    t.reqid = 0;
  }
  return p;
}
