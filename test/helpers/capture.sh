# Shell helpers of the capture scripts in test/ (sourced, not run): waits on real conditions, never on a
# fixed sleep, each with a timeout that fails the script with what it waited for.
#
#   wait_for SECONDS WHAT COMMAND...   runs COMMAND until it succeeds; after SECONDS, says WHAT and fails
#   capture_start NS PCAP LOG FILTER   tcpdump on NS's loopback to PCAP; returns once it is listening
#                                      (its "listening on" line in LOG); CAPTURE_PID is its pid
#   capture_stop NS PCAP               sends an end marker (a UDP datagram to 127.0.0.1:9, in the capture),
#                                      waits until tcpdump has written it (so everything before it is in
#                                      PCAP too: -U writes packets in order as libpcap hands them over, a
#                                      block at a time, within its 1 s timeout), then stops tcpdump

wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" 2>/dev/null; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "gave up after ${secs}s waiting for $what" >&2
      return 1
    fi
    sleep 0.05
  done
}

capture_start() {
  local ns=$1 pcap=$2 log=$3 filter=$4
  # Not --immediate-mode: that takes one ring slot of the loopback MTU (64 KiB) per packet, about 30 in
  # tcpdump's default 2 MiB, and a burst of small packets overflows it (frames lost in mid-stream). In
  # blocks, and with a 32 MiB ring, nothing is lost; capture_stop waits for the last block.
  ip netns exec "$ns" tcpdump -i lo -U -B 32768 -s 0 -w "$pcap" "($filter) or (udp port 9)" >"$log" 2>&1 &
  CAPTURE_PID=$!
  wait_for 10 "tcpdump listening on lo ($(cat "$log" 2>/dev/null))" grep -qs "listening on" "$log"
}

capture_stop() {
  local ns=$1 pcap=$2 marker="dicomtap-capture-end-$$-$RANDOM"
  ip netns exec "$ns" bash -c "printf %s '$marker' >/dev/udp/127.0.0.1/9" || true
  wait_for 10 "the end marker in $pcap" grep -qa "$marker" "$pcap"
  # SIGTERM, not SIGINT: a non-interactive shell starts background jobs with SIGINT ignored.
  kill -TERM "$CAPTURE_PID"
  wait "$CAPTURE_PID" 2>/dev/null || true
}
