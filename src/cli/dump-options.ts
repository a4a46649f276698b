/** The printers' options for this run: clock, zone, names from the system databases. */
import type { Platform } from '../model/algorithms.js';
import { cachedStrTime, localZone } from '../format/ctime.js';
import type { DumpOptions } from '../format/dump-common.js';
import type { Options } from './args.js';
import type { Io } from './io.js';

export function dumpOptions(io: Io, o: Options): DumpOptions {
  const tz = io.tz ?? localZone;
  return {
    withPorts: o.withPorts,
    all: o.all,
    now: io.now(),
    tz,
    time: cachedStrTime(tz),
    ifName: (i) => io.sys.ifName(i),
    protoName: (n) => io.sys.protocolByNumber(n),
    platform: (o.platform ?? 'linux') as Platform,
  };
}
