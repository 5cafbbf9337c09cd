#!/usr/bin/env bash
# test/findings/nmap-capture.sh OUTDIR
# Captures real scanner traffic for the dicom.scanner golden test, isolated in a throw-away network
# namespace (nothing leaves the machine, no port clashes with the host): storescp on 104 (accepts any
# called AE) and Orthanc on 4242 (checks the called AE), then
#   OUTDIR/nmap.pcap     nmap dicom-ping and dicom-brute (a short AE list) against both
#   OUTDIR/echoscu.pcap  dcmtk's own echoscu with the same AE titles as nmap (the negative case)
# Needs root, iproute2, tcpdump, nmap, dcmtk, Orthanc. Cleans up from a trap.
set -euo pipefail
. "$(dirname "$0")/../helpers/capture.sh"
out=${1:?usage: nmap-capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ns="dtinv-$(printf '%04x' $(( (RANDOM ^ $$) & 0xffff )))"
tmp=$(mktemp -d "/tmp/$ns.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

cat >"$tmp/orthanc.json" <<JSON
{ "Name": "dtinv", "DicomAet": "ORTHANC", "DicomPort": 4242, "HttpServerEnabled": false,
  "DicomCheckCalledAet": true, "StorageDirectory": "$tmp/st", "IndexDirectory": "$tmp/st",
  "DicomModalities": {} }
JSON
printf 'PACS\nARCHIVE\nSTORESCP\nDCM4CHEE\nCONQUEST\nORTHANC\n' >"$tmp/aets.txt"

# Started with `ip netns exec` directly (not through a shell function) so that $! is the server itself.
ip netns exec "$ns" storescp 104 >"$tmp/storescp.log" 2>&1 & pids+=($!)
ip netns exec "$ns" Orthanc "$tmp/orthanc.json" >"$tmp/orthanc.log" 2>&1 & pids+=($!)
ready() { in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for 20 "storescp on 104 and Orthanc on 4242" eval 'ready 104 && ready 4242' || { cat "$tmp"/*.log >&2; exit 1; }

capture() { # NAME COMMAND...
  local name=$1; shift
  capture_start "$ns" "$out/$name.pcap" "$tmp/tcpdump-$name.log" 'tcp port 104 or tcp port 4242'
  pids+=("$CAPTURE_PID")
  in_ns "$@" >>"$tmp/$name.log" 2>&1 || true
  capture_stop "$ns" "$out/$name.pcap"
}
capture nmap nmap -n -Pn -sT -p 104,4242 --script dicom-ping,dicom-brute \
  --script-args "passdb=$tmp/aets.txt,brute.firstonly=false" 127.0.0.1
capture echoscu bash -c 'echoscu -aet ECHOSCU -aec ANY-SCP 127.0.0.1 104; echoscu -aet ECHOSCU -aec ORTHANC 127.0.0.1 4242'
cat "$tmp/nmap.log"
