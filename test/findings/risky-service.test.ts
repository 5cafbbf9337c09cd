/**
 * net.risky-service (rules/risky-service.ts): RDP, SMB, VNC, Telnet, FTP answering on DICOM devices.
 */
import test from "ava";
import { assoc, connection, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("net.risky-service: RDP/SMB on a DICOM device, before or after it shows DICOM; not on other hosts", (t) => {
  const h = new Harness();
  h.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.5", 3389)));
  t.deepEqual(h.rule("net.risky-service"), [], "not known as an imaging device yet");
  h.feed(assoc(ep("10.1.0.5", 50001), pacs(), modern));
  h.feed(connection(ep("10.1.0.99", 40001), ep("10.1.0.10", 445)));
  h.feed(connection(ep("10.1.0.99", 40002), ep("10.1.0.10", 21), "rst"));
  const f = h.rule("net.risky-service");
  t.deepEqual(f.map((x) => `${x.device}:${x.key}:${x.severity}`).sort(), [
    "ip-10.1.0.10:445:high",
    "ip-10.1.0.5:3389:high",
  ]);
  const n = new Harness();
  n.feed(connection(ep("10.1.0.99", 40000), ep("10.1.0.200", 445)));
  t.deepEqual(
    n.finish().filter((x) => x.rule === "net.risky-service"),
    [],
  );
});
