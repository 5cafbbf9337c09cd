#!/usr/bin/env bash
# test/tls/tls-capture.sh OUTDIR
# Real DICOM-TLS-port handshakes made by openssl s_server/s_client in a throw-away network namespace and
# captured by tcpdump on its loopback, for the TLS golden test. Writes OUTDIR/tls.pcap with:
#   port 2762   TLS 1.2, self-signed certificate (CN=pacs.test)
#   port 11112  TLS 1.2, certificate signed by a test CA, expired (2020-01-01 .. 2021-01-01)
#   port 4242   TLS 1.3, certificate signed by the test CA (its certificate is encrypted on the wire)
#   port 104    TLS 1.2, certificate signed by the test CA, current (nothing weak)
# Needs root, iproute2, tcpdump, openssl. Cleans up from a trap.
set -euo pipefail
out=${1:?usage: tls-capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ns="dtinvtls-$(printf '%04x' $(( (RANDOM ^ $$) & 0xffff )))"
tmp=$(mktemp -d "/tmp/$ns.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
q() { openssl "$@" >/dev/null 2>&1; }
q req -x509 -newkey rsa:2048 -nodes -keyout ss.key -out ss.crt -days 2 -subj /CN=pacs.test
q req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=Test CA"
q req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=leaf.test
q x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out leaf.crt
printf '[ca]\ndefault_ca=c\n[c]\ndir=.\ndatabase=./index.txt\nnew_certs_dir=.\nserial=./serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' >ca.cnf
: >index.txt
echo 01 >serial
q req -newkey rsa:2048 -nodes -keyout old.key -out old.csr -subj /CN=old.test
q ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -startdate 20200101000000Z -enddate 20210101000000Z -in old.csr -out old.crt -notext

ip netns add "$ns"
ip -n "$ns" link set lo up
server() { # PORT CERT KEY VERSION-FLAG
  ip netns exec "$ns" openssl s_server -quiet -accept "$1" -cert "$2" -key "$3" "$4" >"$tmp/server-$1.log" 2>&1 </dev/null &
  pids+=($!)
}
server 2762 ss.crt ss.key -tls1_2
server 11112 old.crt old.key -tls1_2
server 4242 leaf.crt leaf.key -tls1_3
server 104 leaf.crt leaf.key -tls1_2
ready() { ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
for _ in $(seq 100); do ready 2762 && ready 11112 && ready 4242 && ready 104 && break; sleep 0.1; done

ip netns exec "$ns" tcpdump -i lo -U -s 0 -w "$out/tls.pcap" 'tcp port 2762 or tcp port 11112 or tcp port 4242 or tcp port 104' \
  >"$tmp/tcpdump.log" 2>&1 &
td=$!
pids+=("$td")
for _ in $(seq 50); do [ -s "$out/tls.pcap" ] && break; sleep 0.1; done
sleep 0.3
for port in 2762 11112 4242 104; do
  ip netns exec "$ns" timeout 10 openssl s_client -connect "127.0.0.1:$port" </dev/null >"$tmp/client-$port.log" 2>&1 || true
done
sleep 0.5
kill -INT "$td"
wait "$td" 2>/dev/null || true
