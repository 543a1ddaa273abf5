import type { Codec, CodecName } from './types.js';
import oip from './oip.js';
import v1Json from './v1-json.js';

export type { AnswerPlan, Codec, CodecName, DecodeMeta, Encoded, Limits } from './types.js';

/** The codecs by name (a pool task names its codec: functions do not cross threads). */
const CODECS: Record<CodecName, Codec> = { 'v1-json': v1Json, oip };

export function codec(name: CodecName): Codec {
  return CODECS[name];
}
