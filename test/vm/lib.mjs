// Runs a shell command as root in a qemu VM booting Debian's own kernel (which
// has PF_KEY, ESP, AH, IPComp), with the host's / shared read-only under a
// tmpfs overlay: node, the project and node_modules are at the same paths.
// See test/vm/README.md. Everything it fetches or builds is cached in
// test/vm/.cache (or $SETKEY_VM_CACHE).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
const cacheDir = path.resolve(process.env.SETKEY_VM_CACHE || path.join(here, '.cache'));
const env = process.env;
const log = (msg) => process.stderr.write(`vm: ${msg}\n`);

/** The VM cannot run here (not root, no qemu, no kernel): `message` says why. */
export class Skip extends Error {}

// Debian packages: name -> a file it installs, used when dpkg is absent.
const PACKAGES = {
  'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
  'busybox-static': '/bin/busybox',
  kmod: '/sbin/depmod',
  cpio: '/usr/bin/cpio',
  'xz-utils': '/usr/bin/xz',
  // the decrypt suite captures the kernel's own ESP with it (the guest runs the host's binaries)
  tcpdump: '/usr/bin/tcpdump',
};
// Loaded at boot: 9p/overlay to mount the root, then all of IPsec and its crypto.
const BOOT_MODULES = ['virtio_mmio', 'virtio_pci', '9pnet_virtio', '9p', 'overlay'];
const IPSEC_MODULES = `af_key xfrm_user xfrm_algo xfrm_ipcomp esp4 esp6 ah4 ah6 ipcomp
  ipcomp6 tunnel4 tunnel6 xfrm4_tunnel xfrm6_tunnel authenc authencesn ecb ctr gcm ccm
  seqiv echainiv chacha20poly1305 chacha_generic poly1305_generic des_generic
  des3_ede-x86_64 blowfish_generic cast5_generic twofish_generic serpent_generic
  camellia_generic aesni_intel sha512_generic sha3_generic rmd160 xcbc cmac ghash_generic
  jitterentropy_rng drbg ansi_cprng`.split(/\s+/);
// Shipped in the initramfs but loaded only on demand (request_module), for tests.
const EXTRA_MODULES = ['dummy', 'veth', 'ip_tunnel', 'ipip', 'ip6_tunnel', 'ip_vti', 'ip6_vti', 'xfrm_interface'];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '', status: r.status, error: r.error };
}
function must(cmd, args, opts) {
  const r = run(cmd, args, opts);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.err.trim()}`);
  return r.out;
}
const have = (p) => fs.existsSync(p);
const aptUpdate = () => run('apt-get', ['-q', 'update'], { stdio: ['ignore', 2, 2] }).ok;
const tmpName = (f) => `${f}.${process.pid}.tmp`; // several runs may build at once

function ensurePackages() {
  if (!have('/usr/bin/dpkg')) {
    const missing = Object.entries(PACKAGES).filter(([, f]) => !have(f)).map(([p]) => p);
    if (missing.length) throw new Skip(`not a Debian system and missing: ${missing.join(' ')}`);
    return;
  }
  const installed = (p) => /Status: install ok installed/.test(run('dpkg', ['-s', p]).out);
  const missing = Object.keys(PACKAGES).filter((p) => !installed(p));
  if (!missing.length) return;
  log(`installing ${missing.join(' ')}`);
  const install = () =>
    run('apt-get', ['install', '-q', '-y', '--no-install-recommends', ...missing], {
      stdio: ['ignore', 2, 2],
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    }).ok;
  if (!install() && !(aptUpdate() && install()))
    throw new Skip(`cannot install ${missing.join(' ')} with apt-get`);
}

// The version linux-image-amd64 depends on (e.g. 6.1.0-50-amd64).
const askVersion = () =>
  /Depends: linux-image-(\S+-amd64)\b/.exec(run('apt-cache', ['depends', 'linux-image-amd64']).out)?.[1];

// linux-image-<ver>-amd64 unpacked (not installed) into the cache, with depmod
// run; the version chosen is remembered in the cache (or $SETKEY_VM_KERNEL).
function ensureKernel() {
  const file = path.join(cacheDir, 'kernel-version');
  let ver = env.SETKEY_VM_KERNEL || (have(file) ? fs.readFileSync(file, 'utf8').trim() : askVersion());
  if (!ver && aptUpdate()) ver = askVersion();
  if (!ver) throw new Skip('apt-cache knows no linux-image-amd64: cannot choose a kernel');
  const dir = (v) => path.join(cacheDir, `linux-${v}`);
  if (have(path.join(dir(ver), '.ok'))) return ver;
  const tmp = fs.mkdtempSync(path.join(cacheDir, 'dl-'));
  try {
    const download = (v) => {
      log(`downloading linux-image-${v}`);
      return run('apt-get', ['-q', 'download', `linux-image-${v}`], { cwd: tmp });
    };
    let dl = download(ver);
    if (!dl.ok && !env.SETKEY_VM_KERNEL && aptUpdate()) dl = download((ver = askVersion() ?? ver)); // an old list?
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!dl.ok || !deb) throw new Skip(`cannot download linux-image-${ver}: ${dl.err.trim().split('\n').pop()}`);
    must('dpkg-deb', ['-x', path.join(tmp, deb), path.join(tmp, 'root')]);
    must('depmod', ['-b', path.join(tmp, 'root'), ver]);
    for (const f of fs.readdirSync(cacheDir)) // older kernels and what was made from them
      if (/^(linux|vmlinux|initramfs)-/.test(f) && !f.includes(ver)) fs.rmSync(path.join(cacheDir, f), { recursive: true });
    if (!have(path.join(dir(ver), '.ok'))) {
      fs.rmSync(dir(ver), { recursive: true, force: true });
      fs.renameSync(path.join(tmp, 'root'), dir(ver));
      fs.writeFileSync(path.join(dir(ver), '.ok'), '');
    }
    if (!env.SETKEY_VM_KERNEL) fs.writeFileSync(file, ver + '\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return ver;
}

// The uncompressed ELF vmlinux (PVH boot), cut out of the bzImage's xz payload:
// decompressing in the guest costs ~4 s under TCG.
function ensureVmlinux(kdir, ver) {
  const out = path.join(cacheDir, `vmlinux-${ver}`);
  if (have(out)) return out;
  const bz = fs.readFileSync(path.join(kdir, 'boot', `vmlinuz-${ver}`));
  const at = bz.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) throw new Error('no xz payload in the bzImage');
  const r = spawnSync('xz', ['-dc', '--single-stream'], { input: bz.subarray(at), maxBuffer: 1 << 30 });
  const elf = r.stdout;
  if (!elf || elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf.readUInt16LE(18) !== 0x3e)
    throw new Error(`vmlinux extraction failed: ${r.stderr}`);
  fs.writeFileSync(tmpName(out), elf);
  fs.renameSync(tmpName(out), out);
  return out;
}

// The initramfs: static busybox and its applet links, /init, the modules above
// with a modules.dep and modules.alias of their own (for busybox modprobe).
function ensureInitramfs(kdir, ver) {
  const init = fs.readFileSync(path.join(here, 'init.sh'));
  const all = [...BOOT_MODULES, ...IPSEC_MODULES, ...EXTRA_MODULES];
  const bb = fs.statSync('/bin/busybox');
  const key = crypto.createHash('sha256').update(`${ver}\n${all}\n${bb.size}:${bb.mtimeMs}\n`).update(init);
  const out = path.join(cacheDir, `initramfs-${ver}-${key.digest('hex').slice(0, 12)}.cpio`);
  if (have(out)) return out;
  log('building the initramfs');
  for (const f of fs.readdirSync(cacheDir)) // the ones made from an older init.sh
    if (f.startsWith('initramfs-') && f.endsWith('.cpio')) fs.rmSync(path.join(cacheDir, f));
  const mdir = path.join(kdir, 'lib/modules', ver);
  const stage = fs.mkdtempSync(path.join(cacheDir, 'stage-'));
  try {
    // modprobe --show-depends: "insmod /path/x.ko" lines, dependencies first
    const files = new Set();
    const loaded = new Set();
    for (const m of all) {
      const r = run('modprobe', ['-d', kdir, '-S', ver, '--show-depends', m]);
      if (!r.ok) { log(`warning: no module ${m} in ${ver}`); continue; }
      for (const line of r.out.split('\n')) {
        const f = /^insmod (\S+)/.exec(line)?.[1];
        if (f) files.add(path.relative(mdir, f));
      }
      if (!EXTRA_MODULES.includes(m)) loaded.add(m);
    }
    const names = new Set([...files].map((f) => path.basename(f).replace(/\.ko.*$/, '').replaceAll('-', '_')));
    const mout = path.join(stage, 'lib/modules', ver);
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(mout, f)), { recursive: true });
      fs.copyFileSync(path.join(mdir, f), path.join(mout, f));
    }
    const keep = (file, test) =>
      fs.writeFileSync(path.join(mout, file),
        fs.readFileSync(path.join(mdir, file), 'utf8').split('\n').filter((l) => l && test(l)).join('\n') + '\n');
    keep('modules.dep', (l) => files.has(l.slice(0, l.indexOf(':'))));
    keep('modules.alias', (l) => names.has(l.split(/\s+/)[2]?.replaceAll('-', '_')));
    for (const f of ['modules.builtin', 'modules.order']) fs.copyFileSync(path.join(mdir, f), path.join(mout, f));

    for (const link of must('/bin/busybox', ['--list-full']).split('\n').filter(Boolean)) {
      fs.mkdirSync(path.join(stage, path.dirname(link)), { recursive: true });
      if (link !== 'bin/busybox') fs.symlinkSync('/bin/busybox', path.join(stage, link));
    }
    fs.copyFileSync('/bin/busybox', path.join(stage, 'bin/busybox'));
    fs.chmodSync(path.join(stage, 'bin/busybox'), 0o755);
    for (const d of ['dev', 'proc', 'sys', 'etc', 'tmp']) fs.mkdirSync(path.join(stage, d), { recursive: true });
    fs.writeFileSync(path.join(stage, 'etc/vm-modules'), [...loaded].join(' ') + '\n');
    fs.writeFileSync(path.join(stage, 'init'), init, { mode: 0o755 });
    const list = must('find', ['.', '-mindepth', '1'], { cwd: stage });
    must('sh', ['-c', `cpio -o -H newc -R 0:0 --quiet > "${tmpName(out)}"`], { cwd: stage, input: list });
    fs.renameSync(tmpName(out), out);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

/** Installs and builds what the VM needs (cached); throws Skip when it cannot. */
export function prepare() {
  if (process.getuid?.() !== 0) throw new Skip('not root (apt-get and sharing / with the VM need root)');
  if (process.arch !== 'x64') throw new Skip(`needs an x86-64 host, not ${process.arch}`);
  fs.mkdirSync(cacheDir, { recursive: true });
  ensurePackages();
  const ver = ensureKernel();
  const kdir = path.join(cacheDir, `linux-${ver}`);
  return { ver, vmlinux: ensureVmlinux(kdir, ver), initrd: ensureInitramfs(kdir, ver) };
}

const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`; // shell quoting
const qemuPath = (s) => s.replaceAll(',', ',,'); // qemu option quoting

function cpuKhz() {
  const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : 0;
}

function qemuArgs({ vmlinux, initrd }, io, serial) {
  // microvm under TCG hangs in TSC calibration 2 boots in 3 without tsc_early_khz
  const khz = cpuKhz();
  const machine = env.SETKEY_VM_MACHINE || (khz ? 'microvm' : 'pc');
  const accel = env.SETKEY_VM_ACCEL || 'tcg'; // kvm works only with real hardware virtualisation
  const dev = machine === 'pc' ? 'virtio-9p-pci' : 'virtio-9p-device';
  let append = 'console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off tsc=reliable no_timer_check random.trust_cpu=on';
  if (machine === 'microvm' && khz) append += ` tsc_early_khz=${khz}`;
  return [
    '-M', machine === 'microvm' ? 'microvm,acpi=on' : machine,
    '-accel', accel === 'tcg' ? 'tcg,thread=multi' : accel,
    '-cpu', accel === 'tcg' ? 'max' : 'host',
    '-m', env.SETKEY_VM_MEM || '1G', '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-serial', `file:${qemuPath(serial)}`,
    '-kernel', vmlinux, '-initrd', initrd, '-append', append,
    '-fsdev', 'local,id=root,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', `${dev},fsdev=root,mount_tag=root`,
    '-fsdev', `local,id=io,path=${qemuPath(io)},security_model=none`,
    '-device', `${dev},fsdev=io,mount_tag=io`,
  ];
}

// Environment passed to the command (the rest of the host's is not).
function guestEnv() {
  const pass = /^(PATH|LANG|LC_[A-Z]+|TZ|TERM|CI|NO_COLOR|FORCE_COLOR|NODE_[A-Z_]+|SETKEY_[A-Z_]+)$/;
  const vars = Object.entries(env).filter(([k]) => pass.test(k) && !k.startsWith('SETKEY_VM_'));
  return [...vars, ['HOME', '/root'], ['SETKEY_VM', '1']];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `cmd` with /bin/sh -c as root in the VM, in `cwd` (default: the current
 * directory, same path in the guest), copying its stdout and stderr to ours as
 * they come. Resolves to its exit status. Boots are retried (up to 3) when the
 * guest's init shows no sign of life in time.
 */
export async function runInVm(cmd, { cwd = process.cwd(), timeout = Number(env.SETKEY_VM_TIMEOUT) || 0 } = {}) {
  const vm = prepare();
  const bootTimeout = (Number(env.SETKEY_VM_BOOT_TIMEOUT) || 20) * 1000;
  const verbose = !!env.SETKEY_VM_VERBOSE;
  const io = fs.mkdtempSync(path.join(os.tmpdir(), 'setkey-vm-'));
  const script = guestEnv().map(([k, v]) => `export ${k}=${q(v)}\n`).join('') +
    `cd ${q(cwd)} || exit 125\nexec /bin/sh -c ${q(cmd)}\n`;
  fs.writeFileSync(path.join(io, 'run.sh'), script);
  const t0 = Date.now();
  let child;
  const onSignal = () => { child?.kill('SIGKILL'); fs.rmSync(io, { recursive: true, force: true }); process.exit(130); };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    for (let attempt = 1; attempt <= 3; attempt++) {
      for (const f of ['stdout', 'stderr', 'serial.log']) fs.writeFileSync(path.join(io, f), '');
      const serial = path.join(io, 'serial.log');
      const start = Date.now();
      child = spawn('qemu-system-x86_64', qemuArgs(vm, io, serial), { stdio: ['ignore', 'ignore', 'pipe'] });
      let qemuErr = '';
      let exited = false;
      child.stderr.on('data', (d) => (qemuErr += d));
      child.on('exit', () => (exited = true));
      child.on('error', (e) => { qemuErr += e.message; exited = true; });
      const streams = [['stdout', process.stdout], ['stderr', process.stderr]].map(([f, to]) => ({
        fd: fs.openSync(path.join(io, f), 'r'), pos: 0, to,
      }));
      const pump = () => {
        for (const s of streams) {
          const buf = Buffer.alloc(1 << 16);
          let n;
          while ((n = fs.readSync(s.fd, buf, 0, buf.length, s.pos)) > 0) {
            s.to.write(Buffer.from(buf.subarray(0, n)));
            s.pos += n;
          }
        }
      };
      let alive = false;
      let status = null;
      let shown = 0;
      while (true) {
        await sleep(50);
        const text = fs.readFileSync(serial, 'utf8');
        if (verbose && text.length > shown) { process.stderr.write(text.slice(shown)); shown = text.length; }
        if (!alive && text.includes('vm-init: start')) {
          alive = true;
          if (verbose) log(`init started after ${Date.now() - start} ms`);
        }
        pump();
        if (have(path.join(io, 'status'))) {
          pump();
          status = Number(fs.readFileSync(path.join(io, 'status'), 'utf8').trim());
          break;
        }
        if (exited) break;
        if (!alive && Date.now() - start > bootTimeout) break;
        if (timeout && Date.now() - t0 > timeout * 1000) {
          child.kill('SIGKILL');
          pump();
          log(`timed out after ${timeout} s: VM killed`);
          status = 124;
          break;
        }
      }
      for (const s of streams) fs.closeSync(s.fd);
      const died = exited;
      if (!exited) {
        child.kill('SIGKILL');
        await new Promise((r) => (exited ? r() : child.once('exit', r)));
      }
      if (status !== null) {
        if (verbose) log(`done in ${Date.now() - t0} ms (this boot ${Date.now() - start} ms, attempt ${attempt})`);
        return status;
      }
      const tail = fs.readFileSync(serial, 'utf8').split('\n').slice(-20).join('\n');
      if (alive) throw new Error(`the VM stopped without an exit status\n${qemuErr}${tail}`);
      if (died && qemuErr.trim() && !tail.trim()) throw new Error(`qemu failed: ${qemuErr.trim()}`); // retrying won't help
      log(`attempt ${attempt}: no sign of life from the VM after ${Date.now() - start} ms${died ? ' (qemu exited)' : ''}; ${attempt < 3 ? 'retrying' : 'giving up'}`);
      if (verbose || attempt === 3) process.stderr.write(qemuErr + tail + '\n');
    }
    throw new Skip('the VM did not boot in 3 attempts');
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    fs.rmSync(io, { recursive: true, force: true });
  }
}
