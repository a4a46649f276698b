/**
 * The optional FFI package koffi, imported on first use and shared by the
 * seams that call C directly (sockets Node lacks: datagram-socket.ts; Node's
 * own OpenSSL without a JS object per call: libcrypto.ts). The small part of
 * koffi used is declared here, so that the build does not need it installed.
 */
import { existsSync } from 'node:fs';
export interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}

export interface Koffi {
  load(path: string | null): { func(prototype: string): KoffiFunction };
  errno(): number;
}

let koffiPromise: Promise<Koffi | { readonly noKoffi: string }> | undefined;

/**
 * koffi's native module, required straight from where its package put it
 * (the one-file build only: it has require). koffi's own loader is a few
 * modules of JS compiled at every start (no code cache covers them) and
 * reads node's ELF header to tell glibc from musl: 12.5 ms of each start
 * on this machine, ~0.5 s in the test VM's emulated CPU, against 2.5 ms
 * for the module itself. What its loader adds on top (aliases of deprecated
 * names) setkey does not use. Undefined wherever this is not certain (the
 * module not found there, another version, a riscv ABI that takes the ELF
 * header to name): koffi is then imported as it asks.
 */
export function nativeKoffi(req: NodeJS.Require): Koffi | undefined {
  const { platform, arch } = process;
  if (arch.startsWith('riscv')) return undefined;
  try {
    // its package's folder: the first node_modules/koffi where require would look (resolve.paths, the
    // same order). require.resolve itself walks koffi's "exports" map, in code run once and so never
    // compiled: ~0.1 s of each XFRM command's start in the emulated test VM (0.65 s of 4.7 profiled)
    const dir = (req.resolve.paths('koffi') ?? []).map((d) => `${d}/koffi`).find((d) => existsSync(`${d}/package.json`));
    if (dir === undefined) return undefined;
    const version = (req(`${dir}/package.json`) as { name?: string; version?: string }).version;
    // the prebuilt package beside koffi's, or a build of its own; glibc's first (a musl build does not load on glibc, nor the other way)
    for (const root of [`${dir}/../@koromix/koffi-${platform}-${arch}`, `${dir}/build/koffi`]) {
      for (const triplet of [`${platform}_${arch}`, `musl_${arch}`]) {
        const file = `${root}/${triplet}/koffi.node`;
        if (!existsSync(file)) continue;
        try {
          const native = req(file) as Koffi & { version?: string };
          if (version !== undefined && native.version === version && typeof native.load === 'function' && typeof native.errno === 'function') return native;
        } catch {
          // not this one
        }
      }
    }
  } catch {
    // koffi not installed: its import says so
  }
  return undefined;
}

/** koffi, or why it cannot be imported (not installed, no build for this platform). */
export function importKoffi(): Promise<Koffi | { readonly noKoffi: string }> {
  koffiPromise ??= (async () => {
    const native = typeof require === 'function' && process.env.SETKEY_KOFFI_LOADER !== '1' ? nativeKoffi(require) : undefined;
    if (native) return native;
    // a name in a variable: bundlers leave the import to run time
    const name = 'koffi';
    try {
      // koffi is CommonJS: the one-file build (CommonJS, and run by bin/bundle.js where import() has no
      // base to resolve a package name from) requires it with its own require; the ES modules import it
      const mod = (typeof require === 'function' ? require(name) : await import(name)) as { default?: Koffi } & Partial<Koffi>;
      return (mod.default ?? mod) as Koffi;
    } catch (e) {
      return { noKoffi: (e as Error).message };
    }
  })();
  return koffiPromise;
}
