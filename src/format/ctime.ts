/**
 * ctime()'s text as setkey prints it (pfkey_dump.c str_time): characters
 * 4..23 of "Www Mmm dd hh:mm:ss yyyy\n", i.e. "Mmm dd hh:mm:ss yyyy" with the
 * day space-padded; 0 prints 20 spaces, and a time whose year does not fit
 * glibc's int tm_year prints 20 '?'. The time zone is injected so that
 * printing is a pure function.
 */

/** Seconds east of UTC at a UTC instant (what localtime() adds). */
export type TzOffset = (utcSeconds: number) => number;

export const UTC: TzOffset = () => 0;

/** The process's local zone (TZ), through Date; clamped to Date's range. */
export const localZone: TzOffset = (t) => {
  const max = 8.64e12;
  const clamped = Math.max(-max, Math.min(max, t));
  return -new Date(clamped * 1000).getTimezoneOffset() * 60;
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const INT_MAX = 2147483647;

/** Civil date of a day count since 1970-01-01 (H. Hinnant's days_from_civil inverse), exact for |days| < 2^53/400. */
export function civil(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const two = (n: number): string => (n < 10 ? '0' : '') + n;

/** str_time(): `t` is the u64 field read as a signed long, as the reference casts it. */
export function strTime(t: bigint, tz: TzOffset): string {
  const s = BigInt.asIntN(64, t);
  if (s === 0n) return ' '.repeat(20);
  // glibc's localtime works until the year overflows an int (about 2^55.9 seconds); keep
  // the arithmetic exact in BigInt, since such times are beyond 2^53
  if (s > 1n << 57n || s < -(1n << 57n)) return '?'.repeat(20);
  const local = s + BigInt(tz(Number(s)));
  let days = local / 86400n;
  let rem = local % 86400n;
  if (rem < 0n) {
    rem += 86400n;
    days -= 1n;
  }
  const secsOfDay = Number(rem);
  const [y, m, d] = civil(Number(days));
  if (y - 1900 > INT_MAX || y - 1900 < -INT_MAX - 1) return '?'.repeat(20);
  const text = `${MONTHS[m - 1]} ${d < 10 ? ' ' : ''}${d} ${two(Math.floor(secsOfDay / 3600))}:${two(Math.floor(secsOfDay / 60) % 60)}:${two(secsOfDay % 60)} ${y}`;
  // setkey copies 20 bytes of asctime's "...yyyy\n" and prints them with %s: a short year
  // leaves the newline (and the NUL after it ends the string)
  return (text + '\n').slice(0, 20);
}

/**
 * str_time() with a small cache: a dump prints the same few times (the
 * current time, common creation times) for thousands of entries.
 */
export function cachedStrTime(tz: TzOffset): (t: bigint) => string {
  const cache = new Map<bigint, string>();
  return (t) => {
    let s = cache.get(t);
    if (s === undefined) {
      if (cache.size >= 4096) cache.clear();
      s = strTime(t, tz);
      cache.set(t, s);
    }
    return s;
  };
}
