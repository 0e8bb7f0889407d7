package io.quiver.it;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts N node processes that seed each other and form one Raft group (names d0, d1, ...). */
final class ItCluster {
  private ItCluster() {}

  static List<NodeProcess> start(Path dir, String clusterId, int n) throws Exception {
    List<Integer> gossip = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      gossip.add(ClusterTest.freeGossipPort());
      names.add("d" + i);
    }
    String seeds = String.join(",", gossip.stream().map(p -> "127.0.0.1:" + p).toList());
    List<NodeProcess> nodes = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        nodes.add(NodeProcess.start(dir.resolve(names.get(i)), "--node-name=" + names.get(i),
            "--cluster-id=" + clusterId, "--gossip-port=" + gossip.get(i), "--seeds=" + seeds,
            "--raft-members=" + String.join(",", names)));
      }
    } catch (Exception e) {
      for (NodeProcess p : nodes) {
        p.close();
      }
      throw e;
    }
    return nodes;
  }
}
