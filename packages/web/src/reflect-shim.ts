// SPDX-License-Identifier: MIT
/**
 * The three `Reflect` metadata functions tsyringe (a dependency of @peculiar/x509) insists on
 * finding when it loads. @peculiar/x509 registers its classes with tsyringe but never uses
 * constructor parameter types, so a small map-backed version is enough and spares a
 * `reflect-metadata` dependency. Must be imported before @peculiar/x509; installs nothing when a
 * real polyfill is already present.
 * @module
 */

type MetadataTarget = object;
type MetadataStore = WeakMap<MetadataTarget, Map<unknown, Map<unknown, unknown>>>;

interface ReflectMetadata {
  getMetadata?: (key: unknown, target: MetadataTarget, property?: unknown) => unknown;
  getOwnMetadata?: (key: unknown, target: MetadataTarget, property?: unknown) => unknown;
  defineMetadata?: (
    key: unknown,
    value: unknown,
    target: MetadataTarget,
    property?: unknown
  ) => void;
}

const reflect = Reflect as unknown as ReflectMetadata;

if (typeof reflect.getMetadata !== 'function') {
  const store: MetadataStore = new WeakMap();
  const own = (target: MetadataTarget, property: unknown, create: boolean) => {
    let byProperty = store.get(target);
    if (!byProperty && create) {
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let byKey = byProperty?.get(property);
    if (!byKey && create && byProperty) {
      byKey = new Map();
      byProperty.set(property, byKey);
    }
    return byKey;
  };
  reflect.defineMetadata = (key, value, target, property) => {
    own(target, property, true)?.set(key, value);
  };
  reflect.getOwnMetadata = (key, target, property) => own(target, property, false)?.get(key);
  reflect.getMetadata = (key, target, property) => {
    for (let t: MetadataTarget | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      const found = own(t, property, false);
      if (found?.has(key)) return found.get(key);
    }
    return undefined;
  };
}
