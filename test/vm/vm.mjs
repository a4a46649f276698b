// npm run vm -- 'CMD': runs the shell command line CMD as root in a VM running
// Debian's kernel (PF_KEY, ESP, AH, IPComp), in the current directory, and
// exits with its status. Exits 125 with the reason when the VM cannot run.
import { runInVm, Skip } from './lib.mjs';

const cmd = process.argv.slice(2).join(' ');
if (!cmd.trim()) {
  process.stderr.write("usage: npm run vm -- 'shell command line'\n");
  process.exit(2);
}
try {
  process.exitCode = await runInVm(cmd);
} catch (e) {
  process.stderr.write(`vm: ${e instanceof Skip ? 'cannot run' : 'error'}: ${e.message}\n`);
  process.exitCode = 125;
}
