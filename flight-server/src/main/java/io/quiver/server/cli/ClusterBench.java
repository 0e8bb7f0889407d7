package io.quiver.server.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

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
  private final List<String> results = new ArrayList<>();

  ClusterBench(Path baseDir) {
    this.baseDir = baseDir;
  }

  int run() throws Exception {
    try (BufferAllocator allocator = new RootAllocator();
        LocalCluster cluster = new LocalCluster(baseDir, NODES, "bench")) {
      long t0 = System.nanoTime();
      cluster.start();
      try (FlightSqlClient n0 = cluster.client(allocator, 0)) {
        record("cluster of 3 formed (all alive on node-0, from launch)",
            measure(t0, () -> aliveCount(n0) == NODES));
        record("Raft leader elected (from launch)", measure(t0, () -> leader(n0) != null));

        String leader = leader(n0);
        int victim = Integer.parseInt(leader.substring("node-".length()));
        FlightSqlClient observer = victim == 0 ? cluster.client(allocator, 1) : n0;
        try {
          long kill = System.nanoTime();
          cluster.process(victim).destroyForcibly();
          String name = "node-" + victim;
          record("kill -9 of " + name + " (Raft leader): dead on an observer",
              measure(kill, () -> "dead".equals(status(observer, name))));
          record("kill -9 of " + name + ": new Raft leader", measure(kill, () -> {
            String l = leader(observer);
            return l != null && !l.equals(name);
          }));
          cluster.process(victim).waitFor(10, TimeUnit.SECONDS);
          long restart = System.nanoTime();
          cluster.relaunch(victim);
          record("restart of " + name + ": alive again (from launch)",
              measure(restart, () -> "alive".equals(status(observer, name))));

          int hung = victim == 2 ? 1 : 2;
          String hungName = "node-" + hung;
          FlightSqlClient watcher = hung == 0 ? cluster.client(allocator, 1) : n0;
          long stop = System.nanoTime();
          signal(cluster.process(hung), "STOP");
          record("SIGSTOP of " + hungName + ": suspect", measure(stop, () -> "suspect".equals(status(watcher, hungName))
              || "dead".equals(status(watcher, hungName))));
          record("SIGSTOP of " + hungName + ": dead", measure(stop, () -> "dead".equals(status(watcher, hungName))));
          long cont = System.nanoTime();
          signal(cluster.process(hung), "CONT");
          record("SIGCONT of " + hungName + ": alive again", measure(cont,
              () -> "alive".equals(status(watcher, hungName))));
        } finally {
          if (observer != n0) {
            observer.close();
          }
        }
      }
    }
    System.out.printf("%n%-62s %10s%n", "event (as another node sees it)", "ms");
    results.forEach(System.out::println);
    System.out.println("\nTargets: kill -9 → dead within ~3 s, SIGSTOP → dead within ~5 s. Logs: " + baseDir);
    return 0;
  }

  private static long aliveCount(FlightSqlClient c) throws Exception {
    return SqlCommand.count(c, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'");
  }

  private static String leader(FlightSqlClient c) throws Exception {
    return io.quiver.server.sql.FlightSqlCalls.firstValue(c, "SELECT leader FROM trex_db_raft_status()");
  }

  private static String status(FlightSqlClient c, String node) throws Exception {
    return io.quiver.server.sql.FlightSqlCalls.firstValue(c, "SELECT status FROM trex_db_nodes() WHERE node_name = '" + node + "'");
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
}
