import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

/**
 * proto/grpc_service.proto against the published protocol: every message, field (name, number,
 * type, repeated / map / oneof) and RPC it declares is the published one, and it leaves out none
 * of the published fields of the messages it declares. Wire compatibility with tritonclient.grpc
 * and KServe's clients rests on these numbers; the other gRPC tests generate their clients from
 * the project's own proto, so they could not see a wrong one. The published table is
 * test/fixtures/grpc/published-fields.txt (transcribed from Triton's grpc_service.proto; where it
 * came from is in its header).
 */

const PROTO = fileURLToPath(new URL('../../proto/grpc_service.proto', import.meta.url));
const PUBLISHED = fileURLToPath(new URL('../fixtures/grpc/published-fields.txt', import.meta.url));

/** The proto in the fixture's line format: the package, the RPCs, each message and each field. */
function linesOf(root: protobuf.Root): string[] {
  const pkg = root.lookup('inference') as protobuf.Namespace;
  const lines = ['package inference'];
  const walk = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) {
        for (const m of obj.methodsArray) lines.push(`rpc ${obj.name}.${m.name} ${m.requestType} ${m.responseType}`);
      } else if (obj instanceof protobuf.Type) {
        const name = `${prefix}${obj.name}`;
        if (obj.fieldsArray.length === 0) lines.push(`message ${name}`);
        for (const f of obj.fieldsArray) {
          const label = f instanceof protobuf.MapField ? `map<${f.keyType},${f.type}>` : f.repeated ? 'repeated' : f.partOf ? `oneof:${f.partOf.name}` : '';
          lines.push(`${name}.${f.name} ${f.id} ${f.type}${label ? ` ${label}` : ''}`);
        }
        walk(obj, `${name}.`);
      }
    }
  };
  walk(pkg, '');
  return lines.sort();
}

describe('proto/grpc_service.proto', () => {
  it('declares the published messages, field numbers, types and RPCs, no more and no fewer', () => {
    const published = readFileSync(PUBLISHED, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .sort();
    const root = new protobuf.Root();
    root.loadSync(PROTO, { keepCase: true });
    expect(linesOf(root)).toEqual(published);
  });
});
