/** --format=json: wired to the JSON printer once it exists. */
import type { DumpView } from '../pfkey/dump-view.js';
import type { PostprocOptions } from '../format/postproc.js';

export function renderJson(_views: Iterable<DumpView>, _po: PostprocOptions, _showKeys: boolean): string {
  throw new Error('--format=json is not available yet');
}
