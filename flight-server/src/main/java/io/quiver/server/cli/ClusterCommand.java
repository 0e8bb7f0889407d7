package io.quiver.server.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A local cluster of separate node processes on loopback, for development and tests. */
@Command(name = "cluster", mixinStandardHelpOptions = true,
    description = "Run a local N-node cluster on this machine (separate processes, logs under each node's data dir).",
    subcommands = {ClusterCommand.Start.class, ClusterCommand.Stop.class, ClusterCommand.Status.class})
final class ClusterCommand implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  static List<Path> nodeDirs(Path baseDir) throws IOException {
    if (!Files.isDirectory(baseDir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(baseDir)) {
      return s.filter(p -> p.getFileName().toString().matches("node-\\d+") && Files.isDirectory(p))
          .sorted((a, b) -> Integer.compare(index(a), index(b))).toList();
    }
  }

  private static int index(Path nodeDir) {
    return Integer.parseInt(nodeDir.getFileName().toString().substring("node-".length()));
  }

  @Command(name = "start", mixinStandardHelpOptions = true,
      description = "Start N nodes (coordinator + data each): node-i gets Flight port flight-port+i, gossip port"
          + " gossip-port+i (Raft: +200), data in <base-dir>/node-i; all use each other as seeds and form one"
          + " Raft metadata group.")
  static final class Start implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--nodes", defaultValue = "3", description = "Number of nodes (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--base-dir", defaultValue = "data/cluster",
        description = "Parent of the nodes' data dirs (default: ${DEFAULT-VALUE}).")
    Path baseDir;

    @Option(names = "--cluster-id", defaultValue = "quiver-local", description = "Cluster id (default: ${DEFAULT-VALUE}).")
    String clusterId;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Bind address (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--flight-port", defaultValue = "31337",
        description = "Flight port of node-0; node-i uses this + i (default: ${DEFAULT-VALUE}).")
    int flightPort;

    @Option(names = "--gossip-port", defaultValue = "7946",
        description = "Gossip port of node-0; node-i uses this + i (default: ${DEFAULT-VALUE}).")
    int gossipPort;

    @Option(names = "--wait", defaultValue = "120", description = "Seconds to wait for every node (default: ${DEFAULT-VALUE}).")
    int waitSeconds;

    @Option(names = "--query-memory", defaultValue = "" + io.quiver.server.NodeConfig.DEFAULT_QUERY_MEMORY,
        description = "Each node: bytes of Arrow memory one query may hold (default: ${DEFAULT-VALUE}).")
    long queryMemory;

    @Option(names = "--shuffle-memory", defaultValue = "" + io.quiver.server.NodeConfig.DEFAULT_SHUFFLE_MEMORY,
        description = "Each node: bytes of Arrow memory the shuffles arriving at it may hold together before they "
            + "spill to <data-dir>/tmp/shuffle (default: ${DEFAULT-VALUE}).")
    long shuffleMemory;

    @Option(names = "--engine-threads", defaultValue = "-1",
        description = "Each node: DuckDB worker threads (default: the host's processors divided among the nodes, at "
            + "least 1; 0: every processor for every node). The nodes share this host's cores.")
    int engineThreads;

    private boolean awaitAll(List<Process> processes, List<Path> dirs) throws Exception {
      for (int i = 0; i < processes.size(); i++) {
        if (!StartCommand.awaitReady(processes.get(i), StartCommand.connectHost(host), flightPort + i, waitSeconds,
            dirs.get(i))) {
          System.err.println("quiver: stopping the nodes that did start");
          for (Path dir : dirs) {
            StopCommand.stopNode(dir, 30);
          }
          return false;
        }
      }
      return true;
    }

    private static boolean hasLeader(FlightSqlClient client) {
      try {
        return SqlCommand.count(client, "SELECT count(*) FROM trex_db_raft_status() WHERE leader IS NOT NULL") > 0;
      } catch (Exception e) {
        return false; // the Raft store is still starting
      }
    }

    /**
     * Waits (at most 30 s) until node-0 sees every node alive and a Raft leader; returns how many
     * nodes it sees.
     */
    private int awaitMembership() throws Exception {
      long deadline = System.nanoTime() + 30_000_000_000L;
      int seen = 0;
      try (BufferAllocator allocator = new RootAllocator();
          FlightSqlClient client = new FlightSqlClient(FlightClient.builder(allocator,
              Location.forGrpcInsecure(StartCommand.connectHost(host), flightPort)).build())) {
        while (System.nanoTime() < deadline) {
          seen = (int) SqlCommand.count(client, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'");
          if (seen >= nodes && hasLeader(client)) {
            break;
          }
          Thread.sleep(250);
        }
      }
      return seen;
    }

    @Override
    public Integer call() throws Exception {
      if (nodes < 1 || nodes > 32) {
        System.err.println("quiver: --nodes must be between 1 and 32, got " + nodes);
        return 2;
      }
      for (Path dir : nodeDirs(baseDir)) {
        Optional<ProcessHandle> running = StopCommand.runningNode(dir.toAbsolutePath().resolve(StartCommand.PID_FILE));
        if (running.isPresent()) {
          System.err.println("quiver: a node of this cluster is already running (pid " + running.get().pid() + ", "
              + dir + "); stop it with './quiver cluster stop --base-dir " + baseDir + "'");
          return 1;
        }
      }
      int threads = engineThreads >= 0 ? engineThreads : LocalCluster.threadsPerNode(nodes);
      List<String> seeds = new ArrayList<>();
      List<String> names = new ArrayList<>();
      for (int i = 0; i < nodes; i++) {
        seeds.add(host + ":" + (gossipPort + i));
        names.add("node-" + i);
      }
      List<Process> processes = new ArrayList<>();
      List<Path> dirs = new ArrayList<>();
      for (int i = 0; i < nodes; i++) {
        Path dir = baseDir.resolve("node-" + i).toAbsolutePath();
        Files.createDirectories(dir);
        NodeOptions o = new NodeOptions();
        new CommandLine(o).parseArgs("--host=" + host, "--flight-port=" + (flightPort + i), "--data-dir=" + dir,
            "--node-name=node-" + i, "--cluster-id=" + clusterId, "--gossip-port=" + (gossipPort + i),
            "--seeds=" + String.join(",", seeds), "--raft-members=" + String.join(",", names),
            "--query-memory=" + queryMemory, "--shuffle-memory=" + shuffleMemory, "--engine-threads=" + threads);
        o.toClusterOptions();
        processes.add(StartCommand.launch(o, dir));
        dirs.add(dir);
        // node-0 first: the others then join its view directly instead of forming their own and merging later
        if ((i == 0 || i == nodes - 1) && !awaitAll(processes, dirs)) {
          return 1;
        }
      }
      int members = awaitMembership();
      if (members != nodes) {
        System.err.printf("quiver: node-0 sees %d of %d nodes after 30 s; see the nodes' quiver.log%n", members, nodes);
      }
      System.out.printf("Quiver cluster '%s' started: %d nodes%n", clusterId, nodes);
      System.out.printf("  %-7s %-8s %-22s %-22s %s%n", "node", "pid", "flight", "gossip", "data dir (quiver.log)");
      for (int i = 0; i < nodes; i++) {
        System.out.printf("  %-7s %-8d %-22s %-22s %s%n", "node-" + i, processes.get(i).pid(),
            host + ":" + (flightPort + i), host + ":" + (gossipPort + i), dirs.get(i));
      }
      System.out.printf("  JDBC URL:  jdbc:arrow-flight-sql://%s:%d/?useEncryption=false%n",
          StartCommand.connectHost(host), flightPort);
      System.out.printf("  Try:       ./quiver sql --port %d \"SELECT * FROM trex_db_nodes()\"%n", flightPort);
      return 0;
    }
  }

  @Command(name = "stop", mixinStandardHelpOptions = true, description = "Stop every node of the local cluster.")
  static final class Stop implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--base-dir", defaultValue = "data/cluster",
        description = "Parent of the nodes' data dirs (default: ${DEFAULT-VALUE}).")
    Path baseDir;

    @Override
    public Integer call() throws Exception {
      List<Path> dirs = nodeDirs(baseDir);
      if (dirs.isEmpty()) {
        System.out.println("No local cluster under " + baseDir.toAbsolutePath());
      }
      for (Path dir : dirs) {
        System.out.print(dir.getFileName() + ": ");
        StopCommand.stopNode(dir, 30);
      }
      return 0;
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Show each local node's process and the cluster's membership as the first live node sees it.")
  static final class Status implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--base-dir", defaultValue = "data/cluster",
        description = "Parent of the nodes' data dirs (default: ${DEFAULT-VALUE}).")
    Path baseDir;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address the nodes listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--flight-port", defaultValue = "31337",
        description = "Flight port of node-0, as given to 'cluster start' (default: ${DEFAULT-VALUE}).")
    int flightPort;

    @Override
    public Integer call() throws Exception {
      List<Path> dirs = nodeDirs(baseDir);
      if (dirs.isEmpty()) {
        System.out.println("No local cluster under " + baseDir.toAbsolutePath());
        return 1;
      }
      Integer firstLive = null;
      for (Path dir : dirs) {
        Optional<ProcessHandle> p = StopCommand.runningNode(dir.toAbsolutePath().resolve(StartCommand.PID_FILE));
        int i = Integer.parseInt(dir.getFileName().toString().substring("node-".length()));
        System.out.printf("%-8s %s%n", dir.getFileName(), p.map(h -> "running (pid " + h.pid() + ", flight "
            + host + ":" + (flightPort + i) + ")").orElse("not running"));
        if (p.isPresent() && firstLive == null) {
          firstLive = flightPort + i;
        }
      }
      if (firstLive == null) {
        return 1;
      }
      SqlCommand sql = new SqlCommand();
      sql.maxRows = 1000;
      try (BufferAllocator allocator = new RootAllocator();
          FlightSqlClient client = new FlightSqlClient(FlightClient.builder(allocator,
              Location.forGrpcInsecure(StartCommand.connectHost(host), firstLive)).build())) {
        return sql.run(client, "SELECT * FROM trex_db_nodes()", System.out) ? 0 : 1;
      }
    }
  }
}
