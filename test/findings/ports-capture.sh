#!/usr/bin/env bash
# test/findings/ports-capture.sh OUTDIR
# Real TCP handshakes for net.risky-service and dicom.default-port, in a throw-away network namespace:
#   127.0.0.1  storescp on 11112 (a DICOM device), plus plain listeners on 104 and 445 (SMB's port)
#   127.0.0.3  a plain listener on 3389 (RDP's port) and no DICOM at all
# A client runs echoscu against 127.0.0.1:11112, then opens and closes TCP connections to 127.0.0.1:104,
# 127.0.0.1:445 and 127.0.0.3:3389. Captured by tcpdump on the namespace's loopback to OUTDIR/ports.pcap.
# Needs root, iproute2, tcpdump, dcmtk, node. Cleans up from a trap.
set -euo pipefail
. "$(dirname "$0")/../helpers/capture.sh"
out=${1:?usage: ports-capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ns="dtinvport-$(printf '%04x' $(( (RANDOM ^ $$) & 0xffff )))"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" storescp 11112 >/dev/null 2>&1 &
pids+=($!)
# Listeners that accept and close: what an SMB or RDP service looks like from its TCP handshake.
ip netns exec "$ns" node -e '
  const net = require("node:net");
  for (const [host, port] of [["127.0.0.1", 104], ["127.0.0.1", 445], ["127.0.0.3", 3389]])
    net.createServer((s) => s.end()).listen(port, host);
' &
pids+=($!)
ready() { ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
wait_for 10 "storescp on 11112 and the listeners" eval 'ready 127.0.0.1 11112 && ready 127.0.0.1 104 && ready 127.0.0.1 445 && ready 127.0.0.3 3389'
capture_start "$ns" "$out/ports.pcap" "$out/tcpdump.log" tcp
pids+=("$CAPTURE_PID")
ip netns exec "$ns" echoscu -aet MODALITY -aec STORESCP 127.0.0.1 11112
for target in 127.0.0.1/104 127.0.0.1/445 127.0.0.3/3389; do
  ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$target; exec 3>&-" || true
done
capture_stop "$ns" "$out/ports.pcap"
