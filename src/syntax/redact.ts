/**
 * What a diagnostic may show of the input. Keys must never reach a terminal
 * or a log (README: "never appears in a message"), and neither may the
 * input's control bytes (a config line could retitle or clear the terminal).
 *
 * Two tools: `quoteToken` for a token quoted in a message text, and
 * `maskLine` for the echoed source line. Both work on the token's shape and
 * position, not on what the parser made of it: an error stops the parser
 * before it knows that a word was meant as a key (a key with a typo in it,
 * a key where -E was left out, a key after the wrong algorithm).
 */

import { COMMAND_WORDS } from './lexer.js';

/** A run this long of hex digits is taken for key material wherever it stands (an SPI has at most 8, an IPv6 group 4). */
const KEY_RUN = /[0-9a-fA-F]{16}/;
/** Tokens longer than this are shortened in messages (a message stays one readable line). */
const QUOTE_MAX = 40;

/** Whether a token is shaped like a key: 16 or more hex digits in a row, with or without 0x, whatever follows. */
export function looksLikeKey(t: string): boolean {
  return KEY_RUN.test(t);
}

/** A token that may be a key, reduced to what is not secret: its 0x prefix and its length. */
export function redactedShape(t: string): string {
  return `'${hasHexPrefix(t) ? '0x...' : '...'}' (${t.length} characters)`;
}

function hasHexPrefix(t: string): boolean {
  return t.length > 1 && t.charCodeAt(0) === 48 && (t.charCodeAt(1) | 0x20) === 120;
}

/** A token quoted in a message: escaped, shortened, or reduced to its shape if it looks like a key. */
export function quoteToken(t: string): string {
  if (looksLikeKey(t)) return redactedShape(t);
  return `'${escapeControls(t.length > QUOTE_MAX ? t.slice(0, QUOTE_MAX - 3) + '...' : t)}'`;
}

/** A token shown without quotes (a number in a message): the same rules as quoteToken. */
export function showToken(t: string): string {
  if (looksLikeKey(t)) return `${hasHexPrefix(t) ? '0x...' : '...'} (${t.length} characters)`;
  return escapeControls(t.length > QUOTE_MAX ? t.slice(0, QUOTE_MAX - 3) + '...' : t);
}

/** Control bytes (C0, DEL, C1) as \xNN, so that printing a text cannot drive the terminal. */
export function escapeControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, controlEscape);
}

function controlEscape(c: string): string {
  return '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0');
}

/** Whether a char code is shown escaped (4 columns) rather than as itself. */
export function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/**
 * The safety net under every message text: any run of 16+ hex digits (with
 * its 0x and whatever is glued to it) becomes its shape, and control bytes
 * are escaped. Parsers quote tokens through quoteToken already; this catches
 * texts built elsewhere (a backend's refusal, a resolver's error).
 */
export function safeMessage(s: string): string {
  const masked = KEY_RUN.test(s) ? s.replace(/[^\s'"]*[0-9a-fA-F]{16}[^\s'"]*/g, (m) => `${hasHexPrefix(m) ? '0x...' : '...'} (${m.length} characters)`) : s;
  return escapeControls(masked);
}

// ---------------------------------------------------------------------------
// The echoed line

/** The protocol words of SA statements: after `PROTO SPI` only options, their values and algorithm names are not secret. */
const PROTO_WORDS = new Set(['esp', 'ah', 'esp-old', 'ah-old', 'esp-udp', 'ipcomp', 'tcp']);
const SA_COMMANDS = new Set(['add', 'update', 'get', 'delete', 'getspi']);
/** How many values (words or quoted strings) follow an option; options not listed take none. */
const OPTION_VALUES: Readonly<Record<string, number>> = { '-m': 1, '-u': 1, '-r': 1, '-f': 1, '-lh': 1, '-ls': 1, '-bh': 1, '-bs': 1, '-ctx': 3, '-E': 1, '-A': 1, '-C': 1, tagged: 1 };
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|[0-9]+)$/;
const ALG_FLAGS = new Set(['-E', '-A', '-C']);

/** Where the masker stands in a statement, carried from one line to the next. */
export interface MaskContext {
  /** the statement's first word, if seen */
  command?: string;
  /** the last two words, most recent last */
  words: string[];
  /** past the SPI of an SA statement: a word that is no option, value or algorithm name may be a key */
  afterSpi: boolean;
  /** values still due to the last option (they are shown) */
  values: number;
  /** the values due are an algorithm's name: the word after them is its key */
  keyNext: boolean;
  /** the previous token was masked (a word glued to it is more of the same key) */
  afterKey: boolean;
  /** inside a quoted string */
  inQuote: boolean;
}

export function freshContext(inQuote = false): MaskContext {
  return { words: [], afterSpi: false, values: 0, keyNext: false, afterKey: inQuote, inQuote };
}

export interface MaskOptions {
  /** the text is cut from a longer line on the left / right: a word touching the cut may be part of a key */
  cutLeft?: boolean;
  cutRight?: boolean;
}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 11 || c === 12 || c === 10;

/**
 * `text` with every character that may be key material replaced by `*`,
 * length kept (the caret still points right). Masked: quoted strings (but a
 * `tagged` name and a `-ctx` string); past `PROTO SPI` of an SA statement,
 * every word that is not an option, an option's value or an algorithm name
 * (a key after its algorithm, a second key, a key where -E was left out);
 * a word glued to a masked quoted string (the rest of a key with a quote in
 * it); words with 16+ hex digits in a row anywhere; words cut by a window's
 * edge. A `\"` does not end a quoted string here (the lexer has no escapes,
 * but a user who wrote one meant it as part of the key). Comments are not
 * exempt: a commented-out key is still a key. `ctx` carries the state from
 * the text before (the previous line) and is updated.
 */
export function maskLine(text: string, ctx: MaskContext = freshContext(), opts: MaskOptions = {}): string {
  let out = '';
  let i = 0;
  const n = text.length;
  if (ctx.inQuote) {
    const close = closingQuote(text, 0);
    out += stars(close < 0 ? n : close) + (close < 0 ? '' : '"');
    i = close < 0 ? n : close + 1;
    ctx.inQuote = close < 0;
    ctx.afterKey = true;
  }
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      out += text[i];
      i++;
    } else if (c === 59 || c === 35) {
      // a statement ends; a comment may hold one (a commented-out key is still a key)
      out += text[i];
      i++;
      Object.assign(ctx, freshContext());
      delete ctx.command;
    } else if (c === 34) {
      i = maskQuoted(text, i, ctx, (s) => (out += s));
    } else {
      let j = i + 1;
      while (j < n && !isSpace(text.charCodeAt(j)) && text.charCodeAt(j) !== 59 && text.charCodeAt(j) !== 34 && text.charCodeAt(j) !== 35) j++;
      const word = text.slice(i, j);
      // a word cut by the window may be the visible end of a key
      const cut = (opts.cutLeft === true && i === 0) || (opts.cutRight === true && j === n);
      out += maskWordAt(word, i > 0 && text.charCodeAt(i - 1) === 34, cut, ctx);
      i = j;
    }
  }
  return out;
}

/** A quoted string from `i`: shown if it is an option's value, else masked. Returns where it ends. */
function maskQuoted(text: string, i: number, ctx: MaskContext, emit: (s: string) => void): number {
  const close = closingQuote(text, i + 1);
  const end = close < 0 ? text.length : close + 1;
  const shown = ctx.values > 0;
  emit(shown ? text.slice(i, end) : '"' + stars((close < 0 ? text.length : close) - i - 1) + (close < 0 ? '' : '"'));
  if (shown) ctx.values--;
  ctx.inQuote = close < 0;
  ctx.afterKey = !shown;
  return end;
}

/** One word, masked or not by what precedes it; updates the context. */
function maskWordAt(word: string, glued: boolean, cut: boolean, ctx: MaskContext): string {
  if (!glued && !cut && ctx.values === 0 && COMMAND_WORDS.has(word)) {
    // a command word begins a statement wherever it stands (the one before lacked its ';'): no key is one
    Object.assign(ctx, freshContext());
    ctx.command = word;
    ctx.words.push(word);
    return word;
  }
  const option = word.charCodeAt(0) === 45 && word.length > 1;
  let secret: boolean;
  // key material is letters and digits: a word of neither (punctuation, control bytes) is shown
  if (!/[0-9A-Za-z]/.test(word)) secret = false;
  else if (looksLikeKey(word) || cut || (glued && ctx.afterKey)) secret = true;
  else if (option) secret = false;
  else if (ctx.values > 0) secret = false;
  else secret = ctx.afterSpi || ctx.keyNext || ctx.afterKey;
  const keyNext = ctx.values === 1 && ctx.keyNext;
  if (option) {
    ctx.values = OPTION_VALUES[word] ?? 0;
    ctx.keyNext = ALG_FLAGS.has(word);
  } else if (ctx.values > 0) {
    ctx.values--;
    ctx.keyNext = keyNext;
  } else {
    ctx.keyNext = false;
    if (word === 'tagged') ctx.values = 1;
  }
  const w = ctx.words;
  const spiHere = NUMBER.test(word) && (PROTO_WORDS.has(w[w.length - 1] ?? '') || w[w.length - 2] === 'esp-udp');
  if (spiHere && (ctx.command === undefined || SA_COMMANDS.has(ctx.command))) ctx.afterSpi = true;
  if (ctx.command === undefined && !option) ctx.command = word;
  w.push(word);
  if (w.length > 2) w.shift();
  ctx.afterKey = secret && !cut;
  return secret ? maskWord(word) : word;
}

/** Index of the `"` closing a quoted string whose text starts at `from`; -1 if it runs to the end. */
function closingQuote(text: string, from: number): number {
  for (let k = text.indexOf('"', from); k >= 0; k = text.indexOf('"', k + 1)) {
    if (text.charCodeAt(k - 1) !== 92) return k;
  }
  return -1;
}

function maskWord(w: string): string {
  const keep = w.length > 2 && hasHexPrefix(w) ? 2 : 0;
  return w.slice(0, keep) + stars(w.length - keep);
}

function stars(k: number): string {
  return k > 0 ? '*'.repeat(k) : '';
}
