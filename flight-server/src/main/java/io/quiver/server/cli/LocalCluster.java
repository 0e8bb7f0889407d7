package io.quiver.server.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import picocli.CommandLine;

/**
 * N node processes on loopback for benchmarks ({@code node-0..node-N-1}, free ports, one Raft
 * group, data under {@code baseDir}, each with its share of the host's processors as DuckDB
 * threads). Closing kills them.
 */
final class LocalCluster implements AutoCloseable {
  private final Path baseDir;
  private final int nodes;
  private final String clusterId;
  private final List<Process> processes = new ArrayList<>();
  private final List<Integer> flightPorts = new ArrayList<>();
  private final List<Integer> gossipPorts = new ArrayList<>();

  LocalCluster(Path baseDir, int nodes, String clusterId) throws IOException {
    this.baseDir = baseDir;
    this.nodes = nodes;
    this.clusterId = clusterId;
    for (int i = 0; i < nodes; i++) {
      flightPorts.add(FreePorts.block(0));
      gossipPorts.add(FreePorts.block(300));
    }
  }

  /** Launches every node and waits until each accepts connections. */
  LocalCluster start() throws Exception {
    for (int i = 0; i < nodes; i++) {
      processes.add(launch(i));
    }
    return this;
  }

  /** Waits (at most {@code seconds}) until node-0 sees every node alive and a Raft leader. */
  void awaitFormed(int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    try (BufferAllocator allocator = new org.apache.arrow.memory.RootAllocator(); FlightSqlClient c = client(allocator,
        0)) {
      while (System.nanoTime() < deadline) {
        try {
          if (SqlCommand.count(c, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'") == nodes
              && io.quiver.server.sql.FlightSqlCalls.firstValue(c, "SELECT leader FROM trex_db_raft_status()") != null) {
            return;
          }
        } catch (RuntimeException starting) {
          // the Raft store may still be starting
        }
        Thread.sleep(100);
      }
    }
    throw new IllegalStateException("the local cluster did not form within " + seconds + " s; logs in " + baseDir);
  }

  Process process(int i) {
    return processes.get(i);
  }

  int flightPort(int i) {
    return flightPorts.get(i);
  }

  /** Starts node {@code i} again (after it was killed). */
  void relaunch(int i) throws Exception {
    processes.set(i, launch(i));
  }

  private Process launch(int i) throws Exception {
    Path dir = baseDir.resolve("node-" + i).toAbsolutePath();
    Files.createDirectories(dir);
    List<String> seeds = gossipPorts.stream().map(p -> "127.0.0.1:" + p).toList();
    List<String> names = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      names.add("node-" + n);
    }
    NodeOptions o = new NodeOptions();
    new CommandLine(o).parseArgs("--flight-port=" + flightPorts.get(i), "--data-dir=" + dir, "--node-name=node-" + i,
        "--cluster-id=" + clusterId, "--gossip-port=" + gossipPorts.get(i), "--seeds=" + String.join(",", seeds),
        "--raft-members=" + String.join(",", names), "--engine-threads=" + threadsPerNode(nodes));
    Process p = StartCommand.launch(o, dir);
    if (!StartCommand.awaitReady(p, "127.0.0.1", flightPorts.get(i), 120, dir)) {
      throw new IllegalStateException("node-" + i + " did not start; see " + dir.resolve(StartCommand.LOG_FILE));
    }
    return p;
  }

  /**
   * DuckDB worker threads for each of {@code nodes} nodes on this host: its processors divided among
   * them, at least 1. Three nodes with two threads each on two cores spend their time switching
   * between six threads (TPC-H at sf 1: about 9% slower than one thread each).
   */
  static int threadsPerNode(int nodes) {
    return Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, nodes));
  }

  FlightSqlClient client(BufferAllocator allocator, int i) {
    return new FlightSqlClient(FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1",
        flightPorts.get(i))).build());
  }

  @Override
  public void close() throws InterruptedException {
    for (Process p : processes) {
      p.toHandle().destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
