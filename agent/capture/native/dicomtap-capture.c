/*
 * dicomtap-capture: the live capture source of the appliance (issue 8). A receive-only libpcap reader
 * that writes a classic pcap stream on stdout in blocks, for agent/capture/live.ts to parse.
 *
 *   dicomtap-capture -i IF [-s SNAPLEN] [-B KIB] [-t TIMEOUT_MS] [-- FILTER]
 *
 * Why not `tcpdump -w -`: tcpdump either flushes its output after every packet (-U: one write() and one
 * wake-up of the agent per frame, a third of the CPU in context switches at line rate) or holds up to a
 * stdio buffer indefinitely, and its TPACKET_V3 block timeout is fixed at 1000 ms. This program reads
 * the kernel's TPACKET_V3 ring (no immediate mode: variable-length frames packed into blocks, so a
 * GRO-merged 64 KiB frame costs 64 KiB of ring, not a fixed slot per frame) with a short block timeout,
 * and writes everything one pcap_dispatch() returned in one write(): packets cross to the agent in
 * blocks, and a lone packet on a quiet port still arrives within TIMEOUT_MS (default 100).
 *
 * Passive: it never transmits. It opens the interface receive-only through libpcap (promiscuous, as a
 * mirror port needs), installs the kernel BPF filter, then drops every capability and sets
 * no_new_privs before reading a single frame; it calls no pcap_inject/pcap_sendpacket and no send
 * function (test/capture/native.test.ts checks the binary's undefined symbols).
 *
 * stderr speaks tcpdump's dialect, so the agent's parser is the same for both sources:
 *   "dicomtap-capture: listening on IF, link-type N, snapshot length N bytes, buffer N bytes"  once open
 *   "dicomtap-capture: N packets captured, N packets received by filter, N packets dropped by kernel,
 *    N packets dropped by interface"                                  on SIGUSR1, and at exit
 * At SIGTERM/SIGINT it reads on for two block timeouts, so what the kernel still held is handed over.
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a capture error (the interface went away), 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Output is gathered here and written when a dispatch returns or the buffer is full. */
#define OUT_SIZE (1u << 20)
/* A pipe of 1 MiB (the unprivileged maximum by default, /proc/sys/fs/pipe-max-size) between us and the agent. */
#define PIPE_SIZE (1 << 20)

static pcap_t *handle;
static unsigned char *out;
static size_t out_len;
static volatile sig_atomic_t want_stats, want_stop;
static uint64_t packets_written;

/*
 * pcap_breakloop wakes a pcap_dispatch() blocked in poll() (libpcap 1.10 writes to an eventfd it polls):
 * on an idle port the kernel never retires an empty block, so without it a request for counters or a stop
 * would wait for the next packet.
 */
static void on_signal(int sig) {
  if (sig == SIGUSR1) want_stats = 1;
  else want_stop = 1;
  if (handle != NULL) pcap_breakloop(handle);
}

static int write_all(const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int flush_out(void) {
  if (out_len == 0) return 0;
  int r = write_all(out, out_len);
  out_len = 0;
  return r;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* One pcap record (host byte order, as the global header's magic says): ts_sec, ts_usec, incl_len, orig_len, data. */
static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  (void)user;
  size_t need = 16 + h->caplen;
  if (out_len + need > OUT_SIZE) {
    if (flush_out() < 0) {
      want_stop = 1;
      pcap_breakloop(handle);
      return;
    }
  }
  if (need > OUT_SIZE) return; /* cannot happen: caplen <= snaplen <= 262144 */
  unsigned char *p = out + out_len;
  put32(p, (uint32_t)h->ts.tv_sec);
  put32(p + 4, (uint32_t)h->ts.tv_usec);
  put32(p + 8, h->caplen);
  put32(p + 12, h->len);
  memcpy(p + 16, bytes, h->caplen);
  out_len += need;
  packets_written++;
}

static void print_stats(void) {
  struct pcap_stat st;
  memset(&st, 0, sizeof st);
  if (pcap_stats(handle, &st) != 0) return;
  fprintf(stderr,
          "dicomtap-capture: %llu packets captured, %u packets received by filter, %u packets dropped by kernel, "
          "%u packets dropped by interface\n",
          (unsigned long long)packets_written, st.ps_recv, st.ps_drop, st.ps_ifdrop);
  fflush(stderr);
}

/* Drops every capability (effective, permitted, inheritable, ambient) once the socket is open. */
static int drop_privileges(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
#ifdef PR_CAP_AMBIENT
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
#endif
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * At stop, what the kernel still holds is handed over too: the block being filled is retired only by its
 * timeout, so keep reading, without blocking, for two block timeouts (a stop of the agent then loses
 * nothing that reached the interface before it).
 */
static void drain(long timeout_ms) {
  char err[PCAP_ERRBUF_SIZE];
  if (pcap_setnonblock(handle, 1, err) != 0) return;
  struct timespec start, now, pause = {0, 10 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  long limit_ms = 2 * timeout_ms;
  for (;;) {
    int n = pcap_dispatch(handle, -1, on_packet, NULL);
    if (flush_out() < 0 || n == PCAP_ERROR) return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (elapsed >= limit_ms) return;
    if (n <= 0) nanosleep(&pause, NULL);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: dicomtap-capture -i IF [-s SNAPLEN] [-B KIB] [-t TIMEOUT_MS] [-- FILTER]\n");
  exit(2);
}

static long number(const char *s, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) usage();
  return v;
}

int main(int argc, char **argv) {
  const char *ifname = NULL;
  long snaplen = 262144, buffer_kib = 65536, timeout_ms = 100;
  int opt;
  while ((opt = getopt(argc, argv, "i:s:B:t:")) != -1) {
    switch (opt) {
      case 'i': ifname = optarg; break;
      case 's': snaplen = number(optarg, 64, 262144); break;
      case 'B': buffer_kib = number(optarg, 64, 4L * 1024 * 1024); break;
      case 't': timeout_ms = number(optarg, 1, 10000); break;
      default: usage();
    }
  }
  if (ifname == NULL) usage();
  /* Everything after "--" (or the first operand) is the filter, joined by spaces as tcpdump does. */
  size_t flen = 1;
  for (int i = optind; i < argc; i++) flen += strlen(argv[i]) + 1;
  char *filter = calloc(1, flen);
  if (filter == NULL) return 1;
  for (int i = optind; i < argc; i++) {
    if (i > optind) strcat(filter, " ");
    strcat(filter, argv[i]);
  }

  out = malloc(OUT_SIZE);
  if (out == NULL) return 1;
  char err[PCAP_ERRBUF_SIZE] = "";
  handle = pcap_create(ifname, err);
  if (handle == NULL) {
    fprintf(stderr, "dicomtap-capture: %s\n", err);
    return 1;
  }
  pcap_set_snaplen(handle, (int)snaplen);
  pcap_set_promisc(handle, 1);
  pcap_set_timeout(handle, (int)timeout_ms);
  pcap_set_buffer_size(handle, (int)(buffer_kib * 1024));
  /* No immediate mode: libpcap then uses TPACKET_V3 blocks, retired when full or after timeout_ms. */
  pcap_set_immediate_mode(handle, 0);
  int rc = pcap_activate(handle);
  if (rc < 0) {
    fprintf(stderr, "dicomtap-capture: %s: %s\n", ifname, pcap_geterr(handle));
    return 1;
  }
  if (rc > 0) fprintf(stderr, "dicomtap-capture: warning: %s: %s\n", ifname, pcap_statustostr(rc));
  if (filter[0] != '\0') {
    struct bpf_program prog;
    if (pcap_compile(handle, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(handle, &prog) != 0) {
      fprintf(stderr, "dicomtap-capture: filter: %s\n", pcap_geterr(handle));
      return 1;
    }
    pcap_freecode(&prog);
  }
  if (drop_privileges() != 0) {
    /* A seccomp filter that denies capset (systemd's ~@privileged without the unit's exception) leaves
     * the capability in place; no_new_privs still holds, and nothing here can transmit. Say so, go on. */
    fprintf(stderr, "dicomtap-capture: warning: capabilities kept: %s\n", strerror(errno));
  }
  (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_SIZE);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* tcpdump flushes its output on SIGUSR2; this program flushes after every block, so it has nothing to do. */
  signal(SIGUSR2, SIG_IGN);

  /* The global header: microsecond magic in host byte order, version 2.4, snaplen, link type. */
  unsigned char gh[24];
  const uint16_t major = 2, minor = 4;
  put32(gh, 0xa1b2c3d4u);
  memcpy(gh + 4, &major, 2);
  memcpy(gh + 6, &minor, 2);
  put32(gh + 8, 0);
  put32(gh + 12, 0);
  put32(gh + 16, (uint32_t)snaplen);
  put32(gh + 20, (uint32_t)pcap_datalink(handle));
  if (write_all(gh, sizeof gh) < 0) return 1;

  fprintf(stderr, "dicomtap-capture: listening on %s, link-type %d, snapshot length %ld bytes, buffer %ld bytes\n",
          ifname, pcap_datalink(handle), snaplen, buffer_kib * 1024);
  fflush(stderr);

  int status = 0;
  while (!want_stop) {
    int n = pcap_dispatch(handle, -1, on_packet, NULL);
    if (flush_out() < 0) {
      /* The agent closed the pipe: nothing to capture for. */
      break;
    }
    if (want_stats) {
      want_stats = 0;
      print_stats();
    }
    if (n == PCAP_ERROR_BREAK) continue; /* a signal woke us: counters or stop, handled above */
    if (n == PCAP_ERROR) {
      fprintf(stderr, "dicomtap-capture: %s\n", pcap_geterr(handle));
      status = 1;
      break;
    }
  }
  if (status == 0) drain(timeout_ms);
  (void)flush_out();
  print_stats();
  pcap_close(handle);
  return status;
}
