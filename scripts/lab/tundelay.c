/*
 * tundelay IFNAME DELAY_MS — the reordering half of scripts/lab/run --impair.
 *
 * This kernel has no netem, so packets cannot simply be delayed by a qdisc. Instead the middle namespace
 * marks a random few TCP segments (iptables statistic match) and policy-routes them into this TUN device;
 * we hold each one DELAY_MS milliseconds and write it back into the same device. The kernel then receives
 * it "from" the TUN interface and forwards it on by the main routing table, behind segments that were sent
 * after it: real reordering on the wire, seen by the capture on the PACS side.
 *
 * Packets leave the kernel towards a TUN device with complete checksums (the device offers no checksum
 * offload), so what we write back is valid and is accepted by the receiver.
 *
 * Only libc and Linux headers: built on the fly by scripts/lab/run with `cc -O2 -o tundelay tundelay.c`.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192
#define MAXPKT 2048

static unsigned char buf[SLOTS][MAXPKT];
static int len[SLOTS];
static long long due[SLOTS];

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: tundelay IFNAME DELAY_MS\n");
    return 2;
  }
  long delay = atol(argv[2]);
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) {
    perror("open /dev/net/tun");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    return 1;
  }
  fprintf(stderr, "tundelay: %s ready, %ld ms\n", ifr.ifr_name, delay);
  /* FIFO ring: every packet gets the same delay, so the oldest is always due first. */
  unsigned head = 0, tail = 0;
  for (;;) {
    int timeout = -1;
    if (head != tail) {
      long long wait = due[tail % SLOTS] - now_ms();
      timeout = wait < 0 ? 0 : (int)wait;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    if (r < 0 && errno != EINTR) {
      perror("poll");
      return 1;
    }
    if (r > 0 && (p.revents & POLLIN)) {
      unsigned slot = head % SLOTS;
      int n = (int)read(fd, buf[slot], MAXPKT);
      if (n > 0 && head - tail < SLOTS) {
        len[slot] = n;
        due[slot] = now_ms() + delay;
        head++;
      }
    }
    long long t = now_ms();
    while (head != tail && due[tail % SLOTS] <= t) {
      unsigned slot = tail % SLOTS;
      if (write(fd, buf[slot], (size_t)len[slot]) < 0) perror("write");
      tail++;
    }
  }
}
