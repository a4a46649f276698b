/**
 * koffi's native module loaded straight from its package (src/sys/koffi.ts
 * nativeKoffi), as the one-file build does: the same module koffi's own
 * loader gives, or nothing where it is not found.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { nativeKoffi } from '../src/sys/koffi.js';

const req = createRequire(import.meta.url);

test("koffi's native module, required where its package put it, calls C as koffi does; not found, nothing", async (t) => {
  let loader: { load(p: null): { func(s: string): (...a: unknown[]) => unknown }; version?: string };
  try {
    loader = req('koffi');
  } catch (e) {
    return t.skip(`koffi is not installed here: ${(e as Error).message}`);
  }
  const native = nativeKoffi(req);
  assert.ok(native, 'found beside koffi');
  assert.equal((native as { version?: string }).version, (req(`${req.resolve('koffi').replace(/\/[^/]*$/, '')}/package.json`) as { version: string }).version);
  const getpid = native.load(null).func('int getpid()');
  assert.equal(getpid(), process.pid);
  // the module koffi's own loader gives is this one (a native module is loaded once per process)
  assert.equal(loader.load(null).func('int getpid()')(), process.pid);
  // a require that finds no koffi: nothing (importKoffi then imports koffi as it asks, and says why it cannot)
  const resolve = Object.assign(
    () => {
      throw new Error('not found');
    },
    { paths: () => ['/nonexistent/node_modules', '/tmp/node_modules-none'] },
  );
  const none = Object.assign((id: string) => req(id), { resolve }) as unknown as NodeJS.Require;
  assert.equal(nativeKoffi(none), undefined);
});
