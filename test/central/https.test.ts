/**
 * The central over HTTPS with a certificate made by the site PKI scripts (pki/make-ca,
 * pki/make-central-cert): a client that trusts the site CA logs in and gets a Secure cookie and HSTS; one
 * that does not is refused; plain HTTP to the port gets nothing. And the loopback rule: without
 * central.tls the server refuses any host that is not a loopback address, in the config and again in the
 * server itself.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { validateCentralConfig } from "../../agent/config/config.js";
import { CentralHttp } from "../../agent/central/http/server.js";
import { openCentralStore } from "../../agent/central/http/db.js";
import { requires } from "../helpers/requires.js";
import { PASSWORD, login, request, startCentral } from "./helpers.js";

const test = requires("openssl");
const run = promisify(execFile);
const PKI = resolve("pki");

test("HTTPS with the site PKI: trusted client works, Secure cookie and HSTS; untrusted client and plain HTTP refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dicomtap-central-pki-"));
  try {
    await run(join(PKI, "make-ca"), ["st-marys", join(dir, "ca")]);
    const out = await run(join(PKI, "make-central-cert"), [
      join(dir, "ca"),
      join(dir, "central"),
      "localhost",
      "127.0.0.1",
    ]);
    t.regex(out.stdout, /central certificate .*central\.crt for DNS:localhost,IP:127\.0\.0\.1/);
    const { stdout: text } = await run("openssl", [
      "x509",
      "-in",
      join(dir, "central", "central.crt"),
      "-noout",
      "-text",
    ]);
    t.regex(text, /TLS Web Server Authentication/);
    t.regex(text, /CA:FALSE/);
    const ca = readFileSync(join(dir, "ca", "ca.crt"));
    const c = await startCentral({
      seed: false,
      tls: {
        cert: readFileSync(join(dir, "central", "central.crt")),
        key: readFileSync(join(dir, "central", "central.key")),
      },
    });
    try {
      t.regex(c.base, /^https:\/\/127\.0\.0\.1:\d+$/);
      const port = c.http.address().port;
      for (const base of [c.base, `https://localhost:${port}`]) {
        const r = await request(`${base}/api/v1/openapi.json`, { ca });
        t.is(r.status, 200);
        t.is(r.headers["strict-transport-security"], "max-age=31536000");
      }
      const loginRes = await request(`${c.base}/api/v1/session`, {
        method: "POST",
        body: { name: "viewer", password: PASSWORD.viewer },
        ca,
      });
      t.is(loginRes.status, 200);
      t.regex(loginRes.headers["set-cookie"]![0]!, /; Secure$/);
      const creds = await login(c.base, "analyst", PASSWORD.analyst, ca);
      const me = await request(`${c.base}/api/v1/session`, { headers: creds.headers, ca });
      t.is(me.json<{ user: string }>().user, "analyst");
      // Without the site CA the certificate is not trusted.
      const untrusted = await request(`${c.base}/api/v1/openapi.json`).catch(
        (e: Error & { code?: string }) => e,
      );
      t.true(untrusted instanceof Error);
      t.regex(
        (untrusted as Error & { code?: string }).code ?? "",
        /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|CERT/,
      );
      // Plain HTTP to the HTTPS port gets no API answer.
      const plain = await request(`http://127.0.0.1:${port}/api/v1/openapi.json`).catch((e: Error) => e);
      t.true(
        plain instanceof Error || plain.status === 400,
        String(plain instanceof Error ? plain.message : plain.status),
      );
    } finally {
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("without TLS, only a loopback address: the config refuses others, and so does the server", async (t) => {
  const base = {
    broker: { url: "mqtts://broker.example:8883", ca: "/ca.crt", cert: "/c.crt", key: "/c.key" },
  };
  const err = t.throws(() => validateCentralConfig({ ...base, central: { listen: "0.0.0.0:8443" } }));
  t.regex(String((err as { problems?: string[] }).problems ?? err?.message), /not a loopback address/);
  t.notThrows(() => validateCentralConfig({ ...base, central: { listen: "127.0.0.1:8443" } }));
  t.notThrows(() =>
    validateCentralConfig({ ...base, central: { listen: "0.0.0.0:8443", tls: { cert: "/a", key: "/b" } } }),
  );

  const dir = mkdtempSync(join(tmpdir(), "dicomtap-central-lo-"));
  const store = openCentralStore(join(dir, "central.db"));
  const db = store.db;
  try {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "example.org"]) {
      const e = t.throws(
        () => new CentralHttp({ db, listen: { host, port: 0 }, tls: null, webRoots: [] }),
        undefined,
        host,
      );
      t.regex(e!.message, /loopback/, host);
    }
    for (const host of ["127.0.0.1", "::1", "localhost"]) {
      const http = new CentralHttp({ db, listen: { host, port: 0 }, tls: null, webRoots: [] });
      try {
        await http.start();
      } catch (e) {
        // ::1 may not exist in a container without IPv6.
        if (host === "::1" && /EADDRNOTAVAIL|EAFNOSUPPORT/.test((e as Error).message)) continue;
        throw e;
      }
      t.regex(http.address().host, /^(127\.|::1$|::ffff:127\.)/, host);
      await http.stop();
    }
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
