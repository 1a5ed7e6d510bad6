/** Deep merge with Ansible's list semantics: mappings merge key by key, lists and scalars replace. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObj = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepMerge<T>(...layers: unknown[]): T {
  let out: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (isObj(out) && isObj(layer)) {
      const merged: Record<string, unknown> = { ...out };
      // defineProperty: a key named __proto__ is data, never the object's prototype.
      for (const [k, v] of Object.entries(layer))
        Object.defineProperty(merged, k, {
          value: deepMerge(Object.hasOwn(out, k) ? out[k] : undefined, v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      out = merged;
    } else out = structuredClone(layer);
  }
  return out as T;
}
