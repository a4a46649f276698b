/**
 * The store's directory, opened once and used through what was checked.
 *
 * A store holds keys, so another local user must not be able to redirect
 * setkey's reads and writes (swap a path component for a symlink to her own
 * directory between our check and our open) or feed it files of hers. Three
 * defences, each enough against the swap on its own:
 *
 * - the path is walked component by component, as OpenSSH's StrictModes
 *   does: every directory on it belongs to root or to us and is writable by
 *   no one else unless sticky (/tmp), and a symlink on it belongs to root or
 *   to us; so no other user can rename anything on the path;
 * - the store directory is opened once (O_DIRECTORY | O_NOFOLLOW), its owner
 *   and mode are checked on the descriptor, and every later access goes
 *   through that descriptor (on Linux as /proc/self/fd/N/NAME, which the
 *   kernel resolves from the open directory, not from the path again);
 * - every file inside is opened with O_NOFOLLOW (a symlink is refused, never
 *   followed) and O_NONBLOCK (a FIFO cannot hang us), then checked on the
 *   descriptor: a regular file of ours, one link, no access for others.
 */
import { closeSync, constants as C, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { resolve, join } from 'node:path';
import { describeErrno, EnvironmentError } from '../sys/errors.js';

export type StoreErrorCode = 'foreign' | 'version' | 'corrupt' | 'busy' | 'perm' | 'notdir' | 'missing' | 'io';

export class StoreError extends EnvironmentError {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : -1);

const S_ISVTX = 0o1000;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** An environmental failure (EACCES, ENOSPC, EIO...) as a StoreError naming what failed. */
export function ioError(what: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const code = errno(e);
  const reason = code ? `${describeErrno(code)} (${code})` : String((e as Error).message ?? e);
  return new StoreError('io', `${what}: ${reason}`);
}

function describeOwner(st: Stats): string {
  return st.uid === 0 ? 'root' : `uid ${st.uid}`;
}

/** Owned by root or by us: nobody else can change it. */
function trustedOwner(st: Stats): boolean {
  const me = uid();
  return me < 0 || st.uid === 0 || st.uid === me;
}

/**
 * Walk `abs` from / and check every component (StrictModes). Missing
 * components are created (0700) when `create`; returns the resolved path of
 * the last component, or undefined if it does not exist (and not `create`).
 */
function walk(abs: string, create: boolean, storeName: string): string | undefined {
  let parts = abs.split('/').filter((p) => p !== '' && p !== '.');
  let cur = '/';
  let links = 0;
  checkDir(cur, lstatSync(cur), storeName);
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      cur = resolve(cur, '..');
      continue;
    }
    const next = join(cur, part);
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw ioError(next, e);
      if (!create) return undefined;
      try {
        mkdirSync(next, { mode: 0o700 });
      } catch (e2) {
        if (errno(e2) !== 'EEXIST') throw ioError(`cannot create ${next}`, e2);
      }
      st = lstatSync(next);
    }
    if (st.isSymbolicLink()) {
      if (!trustedOwner(st)) throw new StoreError('perm', `${next} is a symbolic link owned by ${describeOwner(st)}, who could point it elsewhere; the store ${storeName} is refused`);
      if (++links > 40) throw new StoreError('perm', `too many symbolic links on the path to ${storeName}`);
      const target = readlinkSync(next);
      const tparts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) cur = '/';
      parts = [...tparts, ...parts];
      continue;
    }
    if (parts.length > 0) {
      if (!st.isDirectory()) throw new StoreError('notdir', `${next} is not a directory (on the path to the store ${storeName})`);
      checkDir(next, st, storeName);
    }
    cur = next;
  }
  return cur;
}

/** A directory on the way: root's or ours, and writable by nobody else unless sticky. */
function checkDir(path: string, st: Stats, storeName: string): void {
  if (!trustedOwner(st)) {
    throw new StoreError('perm', `${path} belongs to ${describeOwner(st)}, who could replace what is in it; the store ${storeName} must be on a path only root and you can change`);
  }
  if (st.mode & 0o022 && !(st.mode & S_ISVTX)) {
    throw new StoreError('perm', `${path} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}), who could replace what is in it; the store ${storeName} must be on a path only root and you can change`);
  }
}

export interface OpenDirOptions {
  /** create the directory (and missing parents, 0700) when it does not exist */
  readonly create: boolean;
}

/** What a file in the store must be: a regular file of ours, one link, private. */
function checkFile(st: Stats, path: string): void {
  if (!st.isFile()) throw new StoreError('perm', `${path} is not a regular file (a store file must be one; it is never followed or read)`);
  const me = uid();
  if (me >= 0 && st.uid !== me) throw new StoreError('perm', `${path} belongs to ${describeOwner(st)}, not to you; the store is refused`);
  if (st.mode & 0o077) throw new StoreError('perm', `${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}); a store file holds keys`);
  if (st.nlink > 1) throw new StoreError('perm', `${path} has other hard links; a store file must have only its own`);
}

const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

export class StoreDir {
  private closed = false;
  /** how names inside are reached: through the open descriptor where the OS allows it */
  private readonly base: string;

  private constructor(
    /** the store's path as given (for messages) */
    readonly name: string,
    /** the checked, resolved path */
    readonly real: string,
    readonly fd: number,
  ) {
    this.base = viaDescriptor(fd) ?? real;
  }

  /**
   * Open the store directory `path`: the whole path checked, the directory
   * opened once and checked on its descriptor. Undefined when it does not
   * exist and `create` is false.
   */
  static open(path: string, opts: OpenDirOptions): StoreDir | undefined {
    const abs = resolve(path);
    const real = walk(abs, opts.create, path);
    if (real === undefined) return undefined;
    let fd: number;
    try {
      fd = openSync(real, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
    } catch (e) {
      if (errno(e) === 'ENOTDIR') throw new StoreError('notdir', `${path} is not a directory; a store is a directory of its own`);
      if (errno(e) === 'ELOOP') throw new StoreError('perm', `${path} became a symbolic link while it was being opened; the store is refused`);
      throw ioError(`cannot open the store ${path}`, e);
    }
    try {
      const st = fstatSync(fd);
      const me = uid();
      const wrongOwner = me >= 0 && st.uid !== me;
      if (wrongOwner || st.mode & 0o077) {
        // a directory that is no store at all (a project, a home) is named as such: no advice to chmod it
        const notStore = notAStore(fd, real);
        if (notStore) throw new StoreError('foreign', `${path} is not a setkey store (it holds ${notStore}); it is left untouched`);
        if (wrongOwner) throw new StoreError('perm', `${path} belongs to ${describeOwner(st)}, not to you; a store is used only by its owner`);
        const mode = (st.mode & 0o777).toString(8);
        throw new StoreError(
          'perm',
          existsIn(fd, real, 'FORMAT')
            ? `${path} is open to other users (mode ${mode}); it holds keys: chmod 700 ${path}`
            : `${path} is open to other users (mode ${mode}); a store holds keys, so it must be a private directory (mode 700)`,
        );
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new StoreDir(path, real, fd);
  }

  /** The path by which `name` inside the store is reached. */
  path(name: string): string {
    if (this.closed) throw new Error('store directory used after close');
    return `${this.base}/${name}`;
  }

  /** For messages: the store's path and the name. */
  show(name: string): string {
    return join(this.name, name);
  }

  /** Names in the store (or in a subdirectory of it). */
  list(sub?: string): string[] {
    try {
      return readdirSync(sub ? this.path(sub) : this.base);
    } catch (e) {
      if (sub && errno(e) === 'ENOENT') return [];
      throw ioError(`cannot list ${sub ? this.show(sub) : this.name}`, e);
    }
  }

  /** Open an existing store file for reading; undefined if it does not exist. */
  openRead(name: string): number | undefined {
    return this.openChecked(name, READ_FLAGS, 'read');
  }

  /** Open a store file for writing (created 0600 when `create`). */
  openWrite(name: string, how: 'append' | 'create-or-append' | 'update' | 'create-new'): number {
    let flags = C.O_WRONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
    if (how === 'append') flags |= C.O_APPEND;
    if (how === 'create-or-append') flags |= C.O_APPEND | C.O_CREAT;
    if (how === 'create-new') flags |= C.O_CREAT | C.O_EXCL;
    const fd = this.openChecked(name, flags, 'write');
    if (fd === undefined) throw ioError(`cannot write ${this.show(name)}`, Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
    return fd;
  }

  /** open(2) never following a symlink nor waiting on a FIFO, then the descriptor checked (checkFile). */
  private openChecked(name: string, flags: number, verb: 'read' | 'write'): number | undefined {
    let fd: number;
    try {
      fd = openSync(this.path(name), flags, 0o600);
    } catch (e) {
      if (errno(e) === 'ENOENT' && verb === 'read') return undefined;
      if (errno(e) === 'ELOOP') throw new StoreError('perm', `${this.show(name)} is a symbolic link; a store file never is, and it is not followed`);
      // a FIFO opened for writing with O_NONBLOCK and no reader
      if (errno(e) === 'ENXIO') throw new StoreError('perm', `${this.show(name)} is not a regular file (a store file must be one; it is never followed or read)`);
      throw ioError(`cannot ${verb} ${this.show(name)}`, e);
    }
    try {
      checkFile(fstatSync(fd), this.show(name));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  }

  /** The whole of a store file, or undefined if it does not exist. */
  readFile(name: string, limit = Number.MAX_SAFE_INTEGER): Buffer | undefined {
    const fd = this.openRead(name);
    if (fd === undefined) return undefined;
    try {
      return readAll(fd, limit, this.show(name));
    } finally {
      closeSync(fd);
    }
  }

  /** Write a file whole or not at all: a new temporary file, fsync, rename, fsync the directory. */
  writeAtomic(name: string, data: Uint8Array | string): void {
    const tmp = `.${name}.${process.pid}.tmp`;
    this.remove(tmp);
    const fd = this.openWrite(tmp, 'create-new');
    try {
      const b = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      this.remove(tmp);
      throw ioError(`cannot write ${this.show(name)}`, e);
    }
    closeSync(fd);
    this.rename(tmp, name);
    this.sync();
  }

  rename(from: string, to: string): void {
    try {
      renameSync(this.path(from), this.path(to));
    } catch (e) {
      throw ioError(`cannot rename ${this.show(from)} to ${to}`, e);
    }
  }

  /** Remove a file if it is there. */
  remove(name: string): void {
    try {
      unlinkSync(this.path(name));
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw ioError(`cannot remove ${this.show(name)}`, e);
    }
  }

  /** A private subdirectory (created 0700 when missing); refused if it is anything else. */
  subdir(name: string): void {
    try {
      mkdirSync(this.path(name), { mode: 0o700 });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw ioError(`cannot create ${this.show(name)}`, e);
    }
    const st = lstatSync(this.path(name));
    const me = uid();
    if (!st.isDirectory() || (me >= 0 && st.uid !== me) || st.mode & 0o077) {
      throw new StoreError('perm', `${this.show(name)} is not a private directory of yours; the store is refused`);
    }
  }

  /** What a name in the store is, without following it. */
  lstat(name: string): Stats | undefined {
    try {
      return lstatSync(this.path(name));
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw ioError(`cannot look at ${this.show(name)}`, e);
    }
  }

  /** Make renames and new names durable. */
  sync(): void {
    try {
      fsyncSync(this.fd);
    } catch (e) {
      throw ioError(`cannot sync ${this.name}`, e);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Read a descriptor to its end, refusing more than `limit` bytes. */
export function readAll(fd: number, limit: number, what: string): Buffer {
  const size = fstatSync(fd).size;
  if (size > limit) throw new StoreError('corrupt', `${what} is ${size} bytes long, more than a store file can be (${limit})`);
  const b = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, b, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return off === size ? b : b.subarray(0, off);
}

/** What a non-empty directory without a store's FORMAT holds (a few names), or undefined. */
function notAStore(fd: number, real: string): string | undefined {
  const base = viaDescriptor(fd) ?? real;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return undefined;
  }
  if (names.length === 0 || names.includes('FORMAT')) return undefined;
  const shown = names.sort().slice(0, 3).join(', ');
  return names.length > 3 ? `${shown}, ...` : shown;
}

function existsIn(fd: number, real: string, name: string): boolean {
  try {
    lstatSync(`${viaDescriptor(fd) ?? real}/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** /proc/self/fd/N when it leads to the open directory (Linux with /proc mounted). */
function viaDescriptor(fd: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const p = `/proc/self/fd/${fd}`;
  try {
    const a = lstatSync(`${p}/.`);
    const b = fstatSync(fd);
    return a.ino === b.ino && a.dev === b.dev ? p : undefined;
  } catch {
    return undefined;
  }
}
