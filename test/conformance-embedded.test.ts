/** The backend conformance suite on the embedded engine, with a clock the cases can move. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../src/backends/embedded.js';
import { conformance } from './conformance.js';
import { runCli } from './helpers.js';

conformance({
  name: 'embedded',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setkey-conf-'));
    let usec = 1700000000000000n;
    const store = join(dir, 'store');
    const backend = await EmbeddedBackend.open(store, { clock: () => usec });
    return {
      backend,
      serve: async (messages: Uint8Array, table: 'sad' | 'spd') => {
        await backend.engine.load(messages, table);
      },
      cli: (argv: string[]) => runCli(['--store', store, ...argv], { clock: () => usec }),
      advance: (s: number) => {
        usec += BigInt(s) * 1000000n;
      },
      close: async () => {
        await backend.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
