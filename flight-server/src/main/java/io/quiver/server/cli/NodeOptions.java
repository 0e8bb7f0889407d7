package io.quiver.server.cli;

import io.quiver.catalog.cluster.ClusterConfig;
import io.quiver.server.NodeConfig;
import io.quiver.server.QuiverNode;
import io.quiver.server.cluster.NodeIdentity;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The options that configure a node; shared by {@code start} and {@code node}. */
final class NodeOptions {
  @Option(names = "--host", defaultValue = NodeConfig.DEFAULT_HOST,
      description = "Address the Flight SQL server binds to (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--flight-port", defaultValue = "" + NodeConfig.DEFAULT_FLIGHT_PORT,
      description = "Flight SQL port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int flightPort;

  @Option(names = "--data-dir", defaultValue = "data",
      description = "Directory for the DuckDB database, pid file and logs (default: ${DEFAULT-VALUE}).")
  Path dataDir;

  @Option(names = "--result-ttl", defaultValue = "5m",
      description = "How long an executed query's result waits to be fetched before it is cancelled"
          + " (e.g. 30s, 5m; default: ${DEFAULT-VALUE}).")
  String resultTtl;

  @Option(names = "--prepared-idle-timeout", defaultValue = "1h",
      description = "Prepared statements unused this long are closed (default: ${DEFAULT-VALUE}).")
  String preparedIdleTimeout;

  @Option(names = "--batch-rows", defaultValue = "" + NodeConfig.DEFAULT_BATCH_ROWS,
      description = "Rows per Arrow record batch sent to clients (default: ${DEFAULT-VALUE}).")
  int batchRows;

  @Option(names = "--query-threads", defaultValue = "" + NodeConfig.DEFAULT_QUERY_THREADS,
      description = "Threads executing statements (default: ${DEFAULT-VALUE}).")
  int queryThreads;

  @Option(names = "--query-memory", defaultValue = "" + NodeConfig.DEFAULT_QUERY_MEMORY,
      description = "Bytes of Arrow memory one query may hold (default: ${DEFAULT-VALUE}).")
  long queryMemory;

  @Option(names = "--shuffle-memory", defaultValue = "" + NodeConfig.DEFAULT_SHUFFLE_MEMORY,
      description = "Bytes of Arrow memory the shuffles arriving at this node may hold together before they spill "
          + "to <data-dir>/tmp/shuffle; one exchange holds at most a quarter of its query's budget "
          + "(default: ${DEFAULT-VALUE}).")
  long shuffleMemory;

  @Option(names = "--engine-threads", defaultValue = "0",
      description = "DuckDB worker threads (default: ${DEFAULT-VALUE}, one per available processor). Nodes sharing "
          + "one host share its cores: 'cluster start' gives each node its share.")
  int engineThreads;

  @Option(names = "--node-name", description = "Display name in the cluster (default: the node id kept in the data dir).")
  String nodeName;

  @Option(names = "--roles", defaultValue = "coordinator,data",
      description = "Comma-separated roles: coordinator, data (default: ${DEFAULT-VALUE}).")
  String roles;

  @Option(names = "--cluster-id",
      description = "Join this cluster at start (nodes with another id never see each other). Without it (and"
          + " without --seeds) the node runs alone until trex_db_start().")
  String clusterId;

  @Option(names = "--gossip-host", description = "Address gossip binds to (default: the --host address).")
  String gossipHost;

  @Option(names = "--gossip-port", defaultValue = "" + ClusterConfig.DEFAULT_GOSSIP_PORT,
      description = "Gossip (JGroups TCP) port; failure detection also uses this port + 100 (default: ${DEFAULT-VALUE}).")
  int gossipPort;

  @Option(names = "--seeds", description = "Comma-separated host:gossip-port of other members to contact first.")
  String seeds;

  @Option(names = "--raft-members",
      description = "Comma-separated names (--node-name) of every member of the Raft metadata group, this node"
          + " included. Each member's Raft transport listens on its gossip port + " + RAFT_PORT_OFFSET
          + " (failure detection: + " + (RAFT_PORT_OFFSET + 100) + "). Without it the node has no Raft store.")
  String raftMembers;

  static final int RAFT_PORT_OFFSET = 200;

  QuiverNode.ClusterOptions toClusterOptions() {
    ClusterConfig join = null;
    String bind = gossipHost == null ? host : gossipHost;
    if (clusterId != null || (seeds != null && !seeds.isBlank())) {
      join = new ClusterConfig(clusterId == null ? "quiver" : clusterId, bind, gossipPort,
          ClusterConfig.parseSeeds(seeds), ClusterConfig.DEFAULT_SUSPECT_AFTER);
    }
    io.quiver.catalog.raft.RaftMetadata.Config raft = null;
    if (raftMembers != null && !raftMembers.isBlank()) {
      if (nodeName == null) {
        throw io.quiver.proto.QuiverException.user(io.quiver.proto.ErrorCode.INVALID_ARGUMENT,
            "--raft-members needs --node-name (a node's Raft id is its name)");
      }
      java.util.List<String> members = java.util.Arrays.stream(raftMembers.split(",")).map(String::trim)
          .filter(m -> !m.isEmpty()).toList();
      java.util.List<java.net.InetSocketAddress> peers = ClusterConfig.parseSeeds(seeds).stream()
          .map(s -> new java.net.InetSocketAddress(s.getHostString(), s.getPort() + RAFT_PORT_OFFSET)).toList();
      raft = new io.quiver.catalog.raft.RaftMetadata.Config(nodeName, members, bind, gossipPort + RAFT_PORT_OFFSET,
          peers, dataDir.toAbsolutePath().resolve("raft"));
    }
    return new QuiverNode.ClusterOptions(nodeName, NodeIdentity.Role.parse(roles), join, raft);
  }

  NodeConfig toConfig() {
    return new NodeConfig(host, flightPort, dataDir, NodeConfig.parseDuration(resultTtl, "result-ttl"),
        NodeConfig.parseDuration(preparedIdleTimeout, "prepared-idle-timeout"), batchRows, queryThreads, queryMemory,
        shuffleMemory, engineThreads);
  }

  /** The same options as command-line arguments, for launching a node process. */
  List<String> toArgs() {
    List<String> a = new ArrayList<>();
    a.add("--host=" + host);
    a.add("--flight-port=" + flightPort);
    a.add("--data-dir=" + dataDir.toAbsolutePath());
    a.add("--result-ttl=" + resultTtl);
    a.add("--prepared-idle-timeout=" + preparedIdleTimeout);
    a.add("--batch-rows=" + batchRows);
    a.add("--query-threads=" + queryThreads);
    a.add("--query-memory=" + queryMemory);
    a.add("--shuffle-memory=" + shuffleMemory);
    a.add("--engine-threads=" + engineThreads);
    if (nodeName != null) {
      a.add("--node-name=" + nodeName);
    }
    a.add("--roles=" + roles);
    if (clusterId != null) {
      a.add("--cluster-id=" + clusterId);
    }
    if (gossipHost != null) {
      a.add("--gossip-host=" + gossipHost);
    }
    a.add("--gossip-port=" + gossipPort);
    if (seeds != null) {
      a.add("--seeds=" + seeds);
    }
    if (raftMembers != null) {
      a.add("--raft-members=" + raftMembers);
    }
    return a;
  }
}
