/**
 * The `central` section of the config file (issue 12): a file with `central` and `broker` and no `sensor`
 * is a central configuration; HOST:PORT is checked; without TLS only loopback is accepted; every problem
 * is listed at once with its key path, as for the sensor's sections.
 */
import test from "ava";
import { ConfigError, validateCentralConfig, validateConfig } from "../../agent/config/config.js";

const broker = {
  url: "mqtts://broker.example:8883",
  ca: "/pki/ca.crt",
  cert: "/pki/console.crt",
  key: "/pki/console.key",
};

test("a file with central and broker and no sensor is a valid central configuration, defaults filled", (t) => {
  const c = validateCentralConfig({ central: { listen: "127.0.0.1:9443" }, broker });
  t.deepEqual(c.central.listen, { host: "127.0.0.1", port: 9443 });
  t.is(c.central.tls, null);
  t.is(c.central.retention.resolveAfterHours, 168);
  t.is(c.central.shareGroup, "dicomtap-central");
  t.true(c.central.clientId.startsWith("dicomtap-central-"));
  t.true(c.central.clientId.length <= 64);
  t.deepEqual(c.broker, broker);
  t.true(c.networks.internal.includes("10.0.0.0/8"));
});

test("a sensor's file may carry a central section too; without one, central is null", (t) => {
  const sensor = { id: "ct-room-1", site: "st-marys" };
  t.is(validateConfig({ sensor }).central, null);
  const c = validateConfig({ sensor, central: { listen: "[::1]:8443" } });
  t.deepEqual(c.central?.listen, { host: "::1", port: 8443 });
});

test("the central needs its section and a broker", (t) => {
  const e = t.throws(() => validateCentralConfig({ broker }), { instanceOf: ConfigError });
  t.regex(e!.message, /^central: is required/);
  const e2 = t.throws(() => validateCentralConfig({ central: {} }), { instanceOf: ConfigError });
  t.regex(e2!.message, /^broker: is required/);
});

test("without TLS the central listens only on a loopback address", (t) => {
  for (const listen of ["0.0.0.0:8443", "10.1.2.3:443", "[::]:8443", "central.hospital.example:8443"]) {
    const e = t.throws(() => validateCentralConfig({ central: { listen }, broker }), {
      instanceOf: ConfigError,
    });
    t.regex(e!.message, /^central\.listen: .* is not a loopback address/, listen);
  }
  for (const listen of ["127.0.0.1:8443", "localhost:8443", "[::1]:8443", "127.0.0.2:1"]) {
    t.notThrows(() => validateCentralConfig({ central: { listen }, broker }), listen);
  }
  const tls = { cert: "/pki/central.crt", key: "/pki/central.key" };
  const c = validateCentralConfig({ central: { listen: "0.0.0.0:8443", tls }, broker });
  t.deepEqual(c.central.tls, tls);
});

test("every problem of the central section is listed at once, each with its key path", (t) => {
  const e = t.throws(
    () =>
      validateCentralConfig({
        central: {
          listen: "8443",
          tls: { cert: "" },
          store: { maxBytes: 10 },
          retention: { historyDays: 0, resolveAfter: 3 },
          shareGroup: "a/b",
          interfac: 1,
        },
        broker,
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(e!.problems, [
    "central.interfac: unknown key (allowed: listen, tls, store, retention, shareGroup, clientId)",
    'central.listen: "8443" must be HOST:PORT (an IPv6 host in brackets)',
    "central.tls.cert: must not be empty",
    "central.tls.key: is required",
    "central.store.maxBytes: 10 is out of range 16777216..9007199254740991",
    "central.retention.resolveAfter: unknown key (allowed: historyDays, healthDays, resolveAfterHours)",
    "central.retention.historyDays: 0 is out of range 1..36500",
    "central.shareGroup: \"a/b\" must not contain '/', '+', '#' or spaces",
  ]);
});

test("a port out of range is named", (t) => {
  const e = t.throws(() => validateCentralConfig({ central: { listen: "127.0.0.1:70000" }, broker }), {
    instanceOf: ConfigError,
  });
  t.is(e!.message, "central.listen: 70000 is out of range 1..65535");
});
