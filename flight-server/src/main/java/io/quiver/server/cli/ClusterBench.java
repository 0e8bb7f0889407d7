package io.quiver.server.cli;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import picocli.CommandLine;

/**
 * {@code ./quiver bench cluster}: starts 3 node processes on loopback and measures, as node-0 sees
 * it, how long the cluster takes to form, to elect a Raft leader, to notice a killed node (kill -9)
 * and a hung one (SIGSTOP), to fail the Raft leader over, and to take a restarted node back.
 * Timings are printed, never asserted: the machine is shared and noisy.
 */
final class ClusterBench {
  private static final long BOUND_MILLIS = 60_000;
  private static final int NODES = 3;

  private final Path baseDir;
  private final List<Process> processes = new ArrayList<>();
  private final List<Integer> flightPorts = new ArrayList<>();
  private final List<Integer> gossipPorts = new ArrayList<>();
  private final List<String> results = new ArrayList<>();

  ClusterBench(Path baseDir) {
    this.baseDir = baseDir;
  }

  int run() throws Exception {
    for (int i = 0; i < NODES; i++) {
      flightPorts.add(freePort(0));
      gossipPorts.add(freePort(300));
    }
    try (BufferAllocator allocator = new RootAllocator()) {
      long t0 = System.nanoTime();
      for (int i = 0; i < NODES; i++) {
        processes.add(launch(i));
      }
      try (FlightSqlClient n0 = client(allocator, 0)) {
        record("cluster of 3 formed (all alive on node-0, from launch)",
            measure(t0, () -> aliveCount(n0) == NODES));
        record("Raft leader elected (from launch)", measure(t0, () -> leader(n0) != null));

        String leader = leader(n0);
        int victim = Integer.parseInt(leader.substring("node-".length()));
        FlightSqlClient observer = victim == 0 ? client(allocator, 1) : n0;
        try {
          long kill = System.nanoTime();
          processes.get(victim).destroyForcibly();
          String name = "node-" + victim;
          record("kill -9 of " + name + " (Raft leader): dead on an observer",
              measure(kill, () -> "dead".equals(status(observer, name))));
          record("kill -9 of " + name + ": new Raft leader", measure(kill, () -> {
            String l = leader(observer);
            return l != null && !l.equals(name);
          }));
          processes.get(victim).waitFor(10, TimeUnit.SECONDS);
          long restart = System.nanoTime();
          processes.set(victim, launch(victim));
          record("restart of " + name + ": alive again (from launch)",
              measure(restart, () -> "alive".equals(status(observer, name))));

          int hung = victim == 2 ? 1 : 2;
          String hungName = "node-" + hung;
          FlightSqlClient watcher = hung == 0 ? client(allocator, 1) : n0;
          long stop = System.nanoTime();
          signal(processes.get(hung), "STOP");
          record("SIGSTOP of " + hungName + ": suspect", measure(stop, () -> "suspect".equals(status(watcher, hungName))
              || "dead".equals(status(watcher, hungName))));
          record("SIGSTOP of " + hungName + ": dead", measure(stop, () -> "dead".equals(status(watcher, hungName))));
          long cont = System.nanoTime();
          signal(processes.get(hung), "CONT");
          record("SIGCONT of " + hungName + ": alive again", measure(cont,
              () -> "alive".equals(status(watcher, hungName))));
        } finally {
          if (observer != n0) {
            observer.close();
          }
        }
      }
    } finally {
      for (Process p : processes) {
        p.toHandle().destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    }
    System.out.printf("%n%-62s %10s%n", "event (as another node sees it)", "ms");
    results.forEach(System.out::println);
    System.out.println("\nTargets: kill -9 → dead within ~3 s, SIGSTOP → dead within ~5 s. Logs: " + baseDir);
    return 0;
  }

  private Process launch(int i) throws Exception {
    Path dir = baseDir.resolve("node-" + i).toAbsolutePath();
    Files.createDirectories(dir);
    List<String> seeds = gossipPorts.stream().map(p -> "127.0.0.1:" + p).toList();
    List<String> names = new ArrayList<>();
    for (int n = 0; n < NODES; n++) {
      names.add("node-" + n);
    }
    NodeOptions o = new NodeOptions();
    new CommandLine(o).parseArgs("--flight-port=" + flightPorts.get(i), "--data-dir=" + dir, "--node-name=node-" + i,
        "--cluster-id=bench", "--gossip-port=" + gossipPorts.get(i), "--seeds=" + String.join(",", seeds),
        "--raft-members=" + String.join(",", names));
    Process p = StartCommand.launch(o, dir);
    if (!StartCommand.awaitReady(p, "127.0.0.1", flightPorts.get(i), 120, dir)) {
      throw new IllegalStateException("node-" + i + " did not start; see " + dir.resolve(StartCommand.LOG_FILE));
    }
    return p;
  }

  private FlightSqlClient client(BufferAllocator allocator, int i) {
    return new FlightSqlClient(FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1",
        flightPorts.get(i))).build());
  }

  private static long aliveCount(FlightSqlClient c) throws Exception {
    return SqlCommand.count(c, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'");
  }

  private static String leader(FlightSqlClient c) throws Exception {
    return SqlCommand.firstValue(c, "SELECT leader FROM trex_db_raft_status()");
  }

  private static String status(FlightSqlClient c, String node) throws Exception {
    return SqlCommand.firstValue(c, "SELECT status FROM trex_db_nodes() WHERE node_name = '" + node + "'");
  }

  private static long measure(long startNanos, Callable<Boolean> done) throws Exception {
    while ((System.nanoTime() - startNanos) / 1_000_000 < BOUND_MILLIS) {
      try {
        if (done.call()) {
          return (System.nanoTime() - startNanos) / 1_000_000;
        }
      } catch (RuntimeException busy) {
        // a node may refuse while it starts or stops; keep polling
      }
      Thread.sleep(50);
    }
    return -1;
  }

  private void record(String what, long millis) {
    String line = String.format("%-62s %10s", what, millis < 0 ? "> " + BOUND_MILLIS : Long.toString(millis));
    System.out.println("  " + line);
    results.add(line);
  }

  private static void signal(Process p, String signal) throws IOException, InterruptedException {
    new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
  }

  /** A free port whose +100, +200 and +300 neighbours are free too when {@code span} is 300. */
  private static int freePort(int span) throws IOException {
    for (int attempt = 0; attempt < 100; attempt++) {
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      if (port + span > 65_535) {
        continue;
      }
      boolean free = true;
      for (int offset = 100; offset <= span; offset += 100) {
        try (ServerSocket s = new ServerSocket(port + offset)) {
          // free
        } catch (IOException e) {
          free = false;
        }
      }
      if (free) {
        return port;
      }
    }
    throw new IOException("no free port set found");
  }
}
