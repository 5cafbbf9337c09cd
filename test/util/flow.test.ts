/**
 * Issue 10: one spelling for flows. formatFlow writes IPv6 in brackets, so every flow splits back into its
 * two endpoints; before, an IPv6 flow was also written bare ("fd77::10:50001-fd77::20:104"), which cannot.
 */
import test from "ava";
import fc from "fast-check";
import { formatEndpoint, formatFlow, parseFlow } from "../../agent/util/flow.js";

test("IPv4 bare, IPv6 in brackets", (t) => {
  t.is(formatEndpoint({ ip: "10.0.0.1", port: 104 }), "10.0.0.1:104");
  t.is(formatEndpoint({ ip: "fd77::10", port: 104 }), "[fd77::10]:104");
  t.is(
    formatFlow({ ip: "fd77::10", port: 50000 }, { ip: "fd77::20", port: 104 }),
    "[fd77::10]:50000-[fd77::20]:104",
  );
  t.is(
    formatFlow({ ip: "10.0.0.1", port: 50000 }, { ip: "::ffff:10.0.0.2", port: 11112 }),
    "10.0.0.1:50000-[::ffff:10.0.0.2]:11112",
  );
});

test("every flow formatFlow writes splits back into its endpoints; other strings give null", (t) => {
  const ip = fc.oneof(fc.ipV4(), fc.ipV6());
  const endpoint = fc.record({ ip, port: fc.integer({ min: 0, max: 65535 }) });
  fc.assert(
    fc.property(endpoint, endpoint, (client, server) => {
      const back = parseFlow(formatFlow(client, server));
      return (
        back !== null &&
        back.client.ip === client.ip &&
        back.client.port === client.port &&
        back.server.ip === server.ip &&
        back.server.port === server.port
      );
    }),
    { numRuns: 2000 },
  );
  for (const bad of ["", "fd77::10:50001-fd77::20:104", "10.0.0.1-10.0.0.2", "10.0.0.1:1:2-10.0.0.2:3"])
    t.is(parseFlow(bad), null, bad);
});
