/** --format=json for file mode and dumps. */
import { dumpJson, type Json } from '../format/json.js';
import type { PostprocOptions } from '../format/postproc.js';
import type { DumpView } from '../pfkey/dump-view.js';

export function renderJson(views: Iterable<DumpView>, po: PostprocOptions, showKeys: boolean, extras?: (v: DumpView) => { readonly [key: string]: Json } | undefined): string {
  return dumpJson(views, { ...po, showKeys }, extras);
}
