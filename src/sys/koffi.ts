/**
 * The optional FFI package koffi, imported on first use and shared by the
 * seams that call C directly (sockets Node lacks: datagram-socket.ts; Node's
 * own OpenSSL without a JS object per call: libcrypto.ts). The small part of
 * koffi used is declared here, so that the build does not need it installed.
 */
export interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}

export interface Koffi {
  load(path: string | null): { func(prototype: string): KoffiFunction };
  errno(): number;
}

let koffiPromise: Promise<Koffi | { readonly noKoffi: string }> | undefined;

/** koffi, or why it cannot be imported (not installed, no build for this platform). */
export function importKoffi(): Promise<Koffi | { readonly noKoffi: string }> {
  koffiPromise ??= (async () => {
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
