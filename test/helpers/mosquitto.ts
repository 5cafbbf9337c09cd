/**
 * Test helper: a real mosquitto on a free 127.0.0.1 port, configured like pki/mosquitto/dicomtap.conf,
 * with a site PKI made by the pki/ scripts in a temporary directory. The implementation is shared with
 * the publish benchmark in scripts/lib/mosquitto.ts; tests start, stop and restart it.
 */
export {
  freePort,
  Mosquitto,
  removeDir,
  SitePki,
  tempDir,
  type ClientPki,
  type MosquittoOptions,
} from "../../scripts/lib/mosquitto.js";
