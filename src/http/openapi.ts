/**
 * The OpenAPI transform for routes whose request body or answer has several media types (the /v2
 * infer routes: JSON, or a JSON header and binary data): Fastify and @fastify/swagger take such a
 * schema as {"content": {"<media type>": {"schema": ...}}}, which the Zod provider's transform
 * cannot read. This wraps that transform: content maps are taken out, the rest of the route goes
 * through it, and each Zod schema inside a map is converted by it on its own (so it becomes the
 * same $ref to components.schemas as any other), the plain JSON schemas kept as they are.
 */

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Transform = (input: Obj) => Obj;

const isZod = (v: unknown) => typeof v === 'object' && v !== null && '_zod' in v;
const isContentMap = (v: unknown): v is { content: Obj } =>
  typeof v === 'object' && v !== null && !isZod(v) && typeof (v as Obj).content === 'object';

export function withContentMaps(transform: Transform): Transform {
  return (input) => {
    const schema: Obj | undefined = input.schema;
    if (!schema) return transform(input);
    const { body, response, ...rest } = schema;
    const bodyMap = isContentMap(body) ? body : undefined;
    const answerMaps = Object.entries((response ?? {}) as Obj).filter(([, v]) => isContentMap(v));
    if (!bodyMap && answerMaps.length === 0) return transform(input);
    const plainAnswers = Object.fromEntries(Object.entries((response ?? {}) as Obj).filter(([, v]) => !isContentMap(v)));
    const out = transform({ ...input, schema: { ...rest, ...(bodyMap ? {} : { body }), response: plainAnswers } });
    const convert = (s: unknown, where: 'body' | 'response') => {
      if (!isZod(s)) return s;
      if (where === 'body') return transform({ ...input, schema: { body: s } }).schema.body;
      return transform({ ...input, schema: { response: { 200: s } } }).schema.response[200];
    };
    const mapped = (map: { content: Obj }, where: 'body' | 'response') => ({
      ...map,
      content: Object.fromEntries(Object.entries(map.content).map(([type, c]) => [type, { ...c, schema: convert(c.schema, where) }])),
    });
    if (bodyMap) out.schema.body = mapped(bodyMap, 'body');
    if (answerMaps.length) {
      out.schema.response ??= {};
      for (const [code, map] of answerMaps) out.schema.response[code] = mapped(map, 'response');
    }
    return out;
  };
}
