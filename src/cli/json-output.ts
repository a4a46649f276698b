/** --format=json for file mode and dumps. */
import { dumpJson } from '../format/json.js';
import type { PostprocOptions } from '../format/postproc.js';
import type { DumpView } from '../pfkey/dump-view.js';

export function renderJson(views: Iterable<DumpView>, po: PostprocOptions, showKeys: boolean): string {
  return dumpJson(views, { ...po, showKeys });
}
