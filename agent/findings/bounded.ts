/**
 * Bounded state for the findings rules: keys and timestamps there come from the traffic, so hostile or
 * merely large captures must not grow them without end (issue 9, memory under flow floods).
 */

/** A sliding window of events per source: timestamps with a label, pruned by age and capped. */
export class Window {
  readonly events: { ts: number; label: string; target: string }[] = [];
  push(ts: number, label: string, target: string, windowMicros: number, cap: number): void {
    this.events.push({ ts, label, target });
    while (this.events.length > 0 && this.events[0]!.ts < ts - windowMicros) this.events.shift();
    while (this.events.length > cap) this.events.shift();
  }
}

/** A Map that forgets its oldest key when a new one would pass the cap. */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly cap: number) {
    super();
  }
  override set(k: K, v: V): this {
    if (!this.has(k) && this.size >= this.cap) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(k, v);
  }
}

/** The window kept in `map` under `key`, made on first use. */
export function windowOf(map: Map<string, Window>, key: string): Window {
  let w = map.get(key);
  if (!w) {
    w = new Window();
    map.set(key, w);
  }
  return w;
}
