/** The finding page's "Why it matters" (web/src/why.ts) has a sentence for every rule of the catalogue. */
import test from "ava";
import { RULES } from "../../agent/findings/catalogue.js";

test("every catalogue rule has its 'why it matters' on the finding page, and nothing else does", async (t) => {
  // The web application's build (dist/web), imported by a path TypeScript does not resolve.
  const path = "../../web/why.js";
  const { WHY } = (await import(path)) as { WHY: Record<string, string> };
  t.deepEqual(Object.keys(WHY).sort(), Object.keys(RULES).sort());
  for (const [rule, text] of Object.entries(WHY)) t.true(text.length > 20 && text.endsWith("."), rule);
});
