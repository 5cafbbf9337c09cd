/**
 * dicom.cleartext-credentials (rules/cleartext-credentials.ts): user identity secrets sent in clear.
 */
import test from "ava";
import { assoc, ep } from "../inventory/build.js";
import { Harness, pacs, modern } from "./harness.js";

test("dicom.cleartext-credentials: passcodes are high, usernames alone nothing", (t) => {
  const h = new Harness();
  h.feed(
    assoc(ep("10.1.0.5", 50001), pacs(), {
      userIdentity: { type: 2, username: "tech", passcodePresent: true },
      ...modern,
    }),
  );
  const f = h.rule("dicom.cleartext-credentials");
  t.is(f.length, 1);
  t.is(f[0]!.severity, "high");
  t.false(JSON.stringify(f[0]).includes("tech"), "the username stays out of the finding");
  const n = new Harness();
  n.feed(
    assoc(ep("10.1.0.5", 50001), pacs(), {
      userIdentity: { type: 1, username: "tech", passcodePresent: false },
      ...modern,
    }),
  );
  t.deepEqual(n.rule("dicom.cleartext-credentials"), []);
});
