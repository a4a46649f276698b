/**
 * Failures of the environment (a file that vanished, a permission, a full
 * disk, a lock held too long), as opposed to bugs: the CLI prints their
 * message as one line and exits 1; a bug is "internal error", exit 70, and
 * shows its stack trace only with SETKEY_DEBUG=1. No stack trace ever
 * reaches a user otherwise.
 */

export class EnvironmentError extends Error {
  /** recognised without importing this class (the entry point stays small) */
  readonly environmental = true;
}

/** An errno code in words, for one-line messages. */
export function describeErrno(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EROFS':
      return 'read-only file system';
    case 'EIO':
      return 'input/output error';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many symbolic links, or a symbolic link where none is allowed';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    case 'ENAMETOOLONG':
      return 'file name too long';
    case 'ENOMEM':
      return 'out of memory';
    default:
      return code;
  }
}

/** The one line a user sees for an error that escaped every handler, and the exit status. */
export function failureLine(e: unknown): { line: string; status: number } {
  const err = e as (Error & { environmental?: boolean; code?: unknown; path?: unknown; syscall?: unknown }) | undefined;
  if (err?.environmental === true) return { line: err.message, status: 1 };
  if (typeof err?.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) {
    const where = typeof err.path === 'string' ? `${err.path}: ` : typeof err.syscall === 'string' ? `${err.syscall}: ` : '';
    return { line: `${where}${describeErrno(err.code)} (${err.code})`, status: 1 };
  }
  if (err instanceof RangeError && /string longer|Array buffer allocation|allocation failed/i.test(err.message)) {
    return { line: `out of memory: ${err.message}`, status: 1 };
  }
  const what = err instanceof Error ? err.message : String(e);
  return { line: `internal error: ${what} (a bug: please report it; SETKEY_DEBUG=1 shows where it happened)`, status: 70 };
}

/** Control bytes shown escaped, and the whole kept to one line of reasonable length. */
export function oneLine(s: string, max = 1000): string {
  const t = s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}
