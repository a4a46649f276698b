/**
 * Usage, version and --help texts. The usage lines are the reference's, so
 * scripts that grep them keep working; --help tells what differs.
 */
export const VERSION = '0.1.0';

/** -V and the first line of the usage: the reference's shape (`setkey @(#) NAME (WHAT)`), which scripts may grep. */
export function versionLine(): string {
  return `setkey @(#) setkey-ts ${VERSION} (ipsec-tools 0.8.2 compatible)\n`;
}

/** --version: the GNU convention, status 0. */
export function longVersion(): string {
  return `setkey (setkey-ts) ${VERSION}\ncompatible with ipsec-tools 0.8.2 setkey; backends: xfrm, pfkey, embedded\n`;
}

export function usageText(): string {
  return (
    versionLine() +
    'usage: setkey [-vrk] file ...\n' +
    '       setkey [-nvrk] -c\n' +
    '       setkey [-nvrk] -f filename\n' +
    '       setkey [-Palpvrk] -D\n' +
    '       setkey [-Pv] -F\n' +
    '       setkey [-H] -x\n' +
    '       setkey [-V] [-h]\n'
  );
}

export function helpText(): string {
  return `${versionLine()}
setkey adds, updates, dumps and flushes IPsec Security Associations (SAD) and
Security Policies (SPD), from the setkey(8) language of KAME / ipsec-tools.

Usage:
  setkey [-vrk] file ...          print the PF_KEY messages in each file (dump format)
  setkey [-nvrkH] -c              read statements from stdin, run each at its ';'
  setkey [-nvrkH] -f filename     run a file of statements ('-' = stdin)
  setkey [-Palpv] -D              dump the SAD (-P: the SPD)
  setkey [-Pv] -F                 flush the SAD (-P: the SPD)
  setkey [-H] -x                  monitor every message exchanged (-xx: epoch timestamps)
  setkey -V | -h | --help | --version

Options:
  -n           check syntax and semantics only; touch no backend and no store
               (with -H: print the PF_KEY messages that would be sent)
  -H           hexdump each PF_KEY message before it is sent
  -v           verbose: decode every message sent and received
  -k / -r      kernel / RFC mode: in RFC mode (default) an 'in' policy also
               installs a 'fwd' copy (Linux), 'unique' becoming 'require'
  -a -l -p -P  dump: dead SAs too / loop / ports / policies
  --backend=embedded|xfrm|pfkey   choose the backend (also SETKEY_BACKEND); default:
                                  the kernel (xfrm, else pfkey) when it has key
                                  tables, and an error if not privileged; the
                                  embedded engine only on a kernel without any
  --store=PATH                    the embedded engine's store (also SETKEY_STORE;
                                  default $XDG_STATE_HOME/setkey/store); not with
                                  --backend=xfrm|pfkey; reading never creates it
  --platform=linux|freebsd|xnu    PF_KEY layout and numbers for -H (default linux)
  --format=setkey|script|json|wireshark
                                  dump format (script: re-readable statements;
                                  wireshark: the SAs as Wireshark's esp_sa file)
  --show-keys                     include keys in JSON output and in plans
  --diff -f FILE                  the plan from the backend's tables to what FILE
                                  declares (exit 0 same, 2 different, 1 errors)
  --sync -f FILE                  carry it out, never leaving a kept policy out
  --scope=all|declared            the whole tables, or only the pairs FILE names
  --decrypt CAPTURE [-o OUT]      open the ESP/AH/IPComp packets of a pcap or
                                  pcapng capture ('-': stdin) with the SAs of the
                                  -f FILEs, else of the backend; the opened
                                  capture to OUT (or stdout), a summary per SA on
                                  stderr (exit 0 all opened, 2 some not, 1 errors)

Differences from ipsec-tools 0.8.2 (on purpose):
  * the whole input is parsed and checked, its host names resolved, before
    anything is applied: one error applies nothing, and every error is
    reported (up to 50) on stderr as FILE:LINE:COL: error: what; expected
    what, with the line and a caret, then their count;
  * a missing ';' is reported just after the statement that lacks it
    ("expected ';' after the key of aes-cbc") and the next one is still
    checked; a misspelt word names the nearest valid one ("did you mean");
  * rejected although the reference let them through: SPI 0 and above
    2^32-1, prefixes longer than the address, ports above 65535, TCP-MD5 SPIs
    other than 0x1000, keys of the wrong length, -A with an AEAD cipher,
    values the reference cut to fit their field, priority offsets out of range;
  * accepted with a warning, as Linux takes them: SPIs 1-255 (RFC 4303
    reserves them), IPComp CPIs 1-255, inet_aton addresses (10.1, 010.0.0.1),
    unique:0 and unique:N above 16383;
  * accepted in addition: update, getspi, aes-gcm-16, aes-gmac,
    chacha20-poly1305, -esn, hmac-sha256-128 (RFC 4868; plain hmac-sha256
    keeps the 96-bit ICV the man page documents), the GRE key as a number;
  * a statement the backend refuses makes the exit status non-zero and is
    reported with its position and errno; on the embedded engine a file
    applies whole or not at all;
  * -c runs each statement at its ';', counts lines, respects quotes;
  * keys never appear in error messages.
`;
}
