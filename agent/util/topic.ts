/**
 * Topic levels of dicomtap/v1 (DESIGN.md §3 "MQTT"): how a record id becomes one level of a topic. Shared
 * by the publishing side (agent/store/store.ts) and the consumers (agent/console/state.ts, the central),
 * which must find the record a retained topic names, in a module of its own so that a consumer does not
 * load the agent's store (and SQLite) to do so.
 */

/**
 * A device or finding id as one topic level (`devices/{id}`, `findings/{id}`). Inventory's ids (ip-…, mac-…-IP) never hold MQTT's level separator or
 * wildcards (MQTT 5 §4.7), but an id is data: anything else would move the message to another topic or
 * make the PUBLISH invalid, so such characters are percent-encoded.
 */
export function topicLevel(id: string): string {
  if (id === "") return "_";
  // U+0000 is forbidden in MQTT strings (MQTT 5 §1.5.4).
  // eslint-disable-next-line no-control-regex
  return /[/+#\u0000]/.test(id) ? encodeURIComponent(id) : id;
}

/** `dicomtap/v1/{site}/{sensor}/baseline` (issue 13) taken apart, or null. */
export function parseBaselineTopic(topic: string): { site: string; sensor: string } | null {
  const p = topic.split("/");
  if (p.length !== 5 || p[0] !== "dicomtap" || p[1] !== "v1" || p[4] !== "baseline") return null;
  if (!p[2] || !p[3]) return null;
  return { site: p[2], sensor: p[3] };
}
