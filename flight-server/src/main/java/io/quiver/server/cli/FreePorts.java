package io.quiver.server.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free loopback ports for nodes started by the local cluster, benchmarks and tests.
 *
 * <p>Ports come from below the kernel's ephemeral range ({@code ip_local_port_range}): a port taken from
 * {@code new ServerSocket(0)} is an ephemeral one, and between the check and the node's own bind any outgoing
 * connection on the machine (nodes talk to each other a lot) can be given that very port. Ports below the range
 * are never handed to outgoing connections, so a port found free here stays free unless someone binds it on
 * purpose. Ports handed out by this JVM are remembered and never handed out twice.
 */
public final class FreePorts {
  private static final Set<Integer> GIVEN = new HashSet<>();

  private FreePorts() {}

  /**
   * A free port {@code p} such that {@code p + 100}, {@code p + 200}, ... up to {@code p + span} are free too
   * (span 0 for one port; a node's gossip port needs span 300: failure detection, Raft and Raft failure detection).
   */
  public static synchronized int block(int span) throws IOException {
    int[] range = candidates(span);
    for (int attempt = 0; attempt < 500; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(range[0], range[1] + 1);
      if (allFree(port, span)) {
        for (int offset = 0; offset <= span; offset += 100) {
          GIVEN.add(port + offset);
        }
        return port;
      }
    }
    throw new IOException("no free loopback port set (span " + span + ") in " + range[0] + ".." + range[1]);
  }

  private static boolean allFree(int port, int span) {
    for (int offset = 0; offset <= span; offset += 100) {
      if (GIVEN.contains(port + offset)) {
        return false;
      }
      try (ServerSocket s = new ServerSocket(port + offset, 1, InetAddress.getLoopbackAddress())) {
        s.setReuseAddress(true);
      } catch (IOException taken) {
        return false;
      }
    }
    return true;
  }

  /** The lowest and highest base port to try: below the ephemeral range when there is room, else above it. */
  private static int[] candidates(int span) {
    int low = 32_768;
    int high = 60_999;
    try {
      List<String> parts = List.of(Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range"))
          .trim().split("\\s+"));
      low = Integer.parseInt(parts.get(0));
      high = Integer.parseInt(parts.get(1));
    } catch (IOException | RuntimeException unknown) {
      // not Linux: assume the usual range
    }
    if (low - 1 - span >= 11_000) {
      return new int[] {10_000, low - 1 - span};
    }
    if (high + 1 <= 65_535 - span - 1_000) {
      return new int[] {high + 1, 65_535 - span};
    }
    return new int[] {1_024, 65_535 - span};
  }
}
