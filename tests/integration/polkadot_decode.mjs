// Decodes storage values with the unmodified @polkadot/types, from a runtime's own metadata, as a wallet
// does: argv[2] is a JSON file {"metadata": "0x…", "pallet": name, "values": {item: "0x…"}}. Prints one JSON
// line {item: decoded value, …, "_types": {item: the type name polkadot.js gives the value}}.
import { readFileSync } from 'node:fs';
import { Metadata, TypeRegistry } from '@polkadot/types';

const { metadata, pallet, values } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const registry = new TypeRegistry();
const decoded = new Metadata(registry, metadata);
registry.setMetadata(decoded);
const { storage } = decoded.asLatest.pallets.find((p) => p.name.toString() === pallet);
const out = { _types: {} };
for (const item of storage.unwrap().items) {
  const name = item.name.toString();
  if (name in values) {
    const type = item.type.asMap.value;
    out[name] = registry.createTypeUnsafe(registry.createLookupType(type), [values[name]]).toJSON();
    out._types[name] = registry.lookup.getTypeDef(type).type;
  }
}
console.log(JSON.stringify(out));
