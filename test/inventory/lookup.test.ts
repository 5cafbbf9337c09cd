/**
 * Inventory lookups are cached per endpoint spelling (issue 2: no id string or regex per DIMSE message).
 * Whatever order hosts appear in, with or without MACs, in any letter case, an endpoint must map to the
 * device the module comment's rule names: the (MAC, IP) device if there is one, else the IP-only device;
 * without a MAC, the first device with that IP.
 */
import test from "ava";
import fc from "fast-check";
import { defaultConfig } from "../../agent/config/config.js";
import { deviceIdFor, Inventory, type InventoryDevice } from "../../agent/inventory/inventory.js";
import type { Endpoint } from "../../agent/reassembly/types.js";
import { assoc, CT_IMAGE_STORAGE, dimse, ep, msg } from "./build.js";

const IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
const MACS = [null, "aa:bb:cc:00:00:01", "AA:BB:CC:00:00:01", "aa:bb:cc:00:00:02", ""];

/** The rule, computed from the devices listed (in the order first seen). */
function ruleId(devices: InventoryDevice[], e: { ip: string; mac: string | null }): string {
  if (e.mac) {
    const byPair = devices.find((d) => d.id === deviceIdFor(e.ip, e.mac));
    if (byPair) return byPair.id;
    const ipOnly = devices.find((d) => d.id === deviceIdFor(e.ip, null));
    if (ipOnly) return ipOnly.id;
    return deviceIdFor(e.ip, e.mac);
  }
  return devices.find((d) => d.ip === e.ip)?.id ?? deviceIdFor(e.ip, null);
}

const endpointArb = fc
  .tuple(fc.constantFrom(...IPS), fc.constantFrom(...MACS), fc.integer({ min: 1000, max: 1003 }))
  .map(([ip, mac, port]) => ep(ip, port, mac));

test("property: endpoints map to the rule's device whatever the order and spelling", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(endpointArb, endpointArb, fc.boolean()), { minLength: 1, maxLength: 25 }),
      (steps) => {
        const inv = new Inventory(defaultConfig());
        const all: Endpoint[] = [];
        for (const [a, b, asDimse] of steps) {
          if (a.ip === b.ip) continue;
          all.push(a, b);
          // A lookup before the device exists must not stick (only hits are remembered).
          if (inv.idFor(a) !== ruleId(inv.devices(), a)) return false;
          if (asDimse) inv.observe(dimse(a, b, 0, msg("C-STORE-RQ", { sopClassUid: CT_IMAGE_STORAGE })));
          else inv.observe(assoc(a, b));
          const devices = inv.devices();
          for (const e of all) {
            if (inv.idFor(e) !== ruleId(devices, e)) return false;
            if (!inv.isDicomDevice(e)) return false;
          }
          // Peers are recorded under the ids the rule gives.
          const server = devices.find((d) => d.id === ruleId(devices, b))!;
          if (!server.peers.includes(ruleId(devices, a))) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
