package io.quiver.catalog.cluster;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How a node joins its cluster.
 *
 * @param clusterId nodes with different ids never see each other, even on the same seeds
 * @param bindHost address the gossip (JGroups TCP) transport binds to
 * @param gossipPort TCP port of the transport; failure detection uses {@code gossipPort + 100}
 * @param seeds other members to contact first ({@code host:port} of their gossip ports)
 * @param suspectAfter a member silent this long is shown as suspect
 */
public record ClusterConfig(String clusterId, String bindHost, int gossipPort, List<InetSocketAddress> seeds,
    Duration suspectAfter) {
  public static final int DEFAULT_GOSSIP_PORT = 7946;
  public static final Duration DEFAULT_SUSPECT_AFTER = Duration.ofMillis(2500);
  /** How often a node re-publishes its facts (its heartbeat). */
  public static final Duration HEARTBEAT = Duration.ofSeconds(1);

  public ClusterConfig {
    if (clusterId == null || !clusterId.matches("[A-Za-z0-9._-]{1,64}")) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "cluster id '%s' must be 1-64 letters, digits, '.', '_' or '-'", clusterId);
    }
    if (gossipPort < 1 || gossipPort > 65_435) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "gossip port must be between 1 and 65435 (failure detection uses port + 100), got %d", gossipPort);
    }
    seeds = List.copyOf(seeds);
  }

  /** Parses {@code host:port,host:port}; blank means no seeds. */
  public static List<InetSocketAddress> parseSeeds(String text) {
    List<InetSocketAddress> out = new ArrayList<>();
    if (text == null || text.isBlank()) {
      return out;
    }
    for (String part : text.split(",")) {
      String p = part.trim();
      int colon = p.lastIndexOf(':');
      if (colon <= 0 || colon == p.length() - 1) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "seed '%s' is not host:port", p);
      }
      try {
        out.add(new InetSocketAddress(p.substring(0, colon), Integer.parseInt(p.substring(colon + 1))));
      } catch (IllegalArgumentException e) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "seed '%s' is not host:port", p);
      }
    }
    return out;
  }

  public String gossipAddress() {
    return bindHost + ":" + gossipPort;
  }
}
