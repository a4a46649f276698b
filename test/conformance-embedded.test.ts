/** The backend conformance suite on the embedded engine, with a clock the cases can move. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../src/backends/embedded.js';
import { conformance } from './conformance.js';

conformance({
  name: 'embedded',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setkey-conf-'));
    let usec = 1700000000000000n;
    const backend = await EmbeddedBackend.open(join(dir, 'store'), { clock: () => usec });
    return {
      backend,
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
