package io.quiver.server.cli;

import io.quiver.server.tpch.TpchData;
import io.quiver.server.tpch.TpchLoader;
import io.quiver.server.tpch.TpchQueries;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.duckdb.DuckDBConnection;

/**
 * {@code ./quiver bench tpch}: loads TPC-H at --sf into a local cluster of --nodes node processes
 * (distributed tables) and into one in-process DuckDB, runs the 22 queries on both in the same
 * run, checks that the results are equal, and prints per-query times, the ratio cluster/DuckDB and
 * the geometric mean of the ratios. All 22 queries run --warmup times on both sides first; then
 * each query runs once more and --runs times; the best time counts.
 */
final class TpchBench {
  private final Path baseDir;
  private final double sf;
  private final int nodes;
  private final int runs;
  private final int warmup;
  private final io.quiver.server.tpch.TpchData.Layout layout;

  TpchBench(Path baseDir, double sf, int nodes, int runs, int warmup, io.quiver.server.tpch.TpchData.Layout layout) {
    this.baseDir = baseDir;
    this.sf = sf;
    this.nodes = nodes;
    this.runs = runs;
    this.warmup = warmup;
    this.layout = layout;
  }

  int run() throws Exception {
    try (BufferAllocator allocator = new RootAllocator();
        DuckDBConnection duck = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:"
            + baseDir.resolve("reference.duckdb"))) {
      System.out.printf("TPC-H sf %s: loading the single-node DuckDB reference ...%n", sf);
      long t = System.nanoTime();
      long rows = TpchData.loadInto(duck, sf, allocator);
      System.out.printf("  %,d rows in %.1f s%n", rows, (System.nanoTime() - t) / 1e9);
      System.out.printf("Starting %d nodes on loopback and loading the cluster (%s layout) ...%n", nodes,
          layout.name().toLowerCase(Locale.ROOT));
      try (LocalCluster cluster = new LocalCluster(baseDir.resolve("cluster"), nodes, "bench-tpch").start();
          FlightSqlClient sql = cluster.client(allocator, 0)) {
        cluster.awaitFormed(60);
        new TpchLoader(sql, allocator, System.err).load(sf, Math.max(2, 2 * nodes), true, layout);
        // passes of all 22 on both sides first: the nodes' JVMs compile their hot paths (the steady state of a
        // long-running service), and the first queries do not pay for the later ones' warm-up
        for (int pass = 1; pass <= warmup; pass++) {
          long warm = System.nanoTime();
          for (int q = 1; q <= TpchQueries.COUNT; q++) {
            try (Statement st = duck.createStatement(); ResultSet rs = st.executeQuery(TpchQueries.query(q))) {
              TpchQueries.rows(rs);
            }
            io.quiver.server.sql.FlightSqlCalls.rows(sql, TpchQueries.query(q));
          }
          System.out.printf(Locale.ROOT, "warm-up pass %d of %d (all 22 queries on both sides): %.1f s%n", pass,
              warmup, (System.nanoTime() - warm) / 1e9);
        }
        System.out.printf("%n%-5s %8s %12s %12s %8s  %s%n", "query", "rows", "DuckDB ms", "cluster ms", "ratio",
            "result");
        double logSum = 0;
        int differing = 0;
        double worst = 0;
        for (int q = 1; q <= TpchQueries.COUNT; q++) {
          String text = TpchQueries.query(q);
          List<List<Object>> expected = null;
          double duckMs = Double.MAX_VALUE;
          for (int r = 0; r <= runs; r++) {
            long s = System.nanoTime();
            try (Statement st = duck.createStatement(); ResultSet rs = st.executeQuery(text)) {
              expected = TpchQueries.rows(rs);
            }
            if (r > 0) {
              duckMs = Math.min(duckMs, (System.nanoTime() - s) / 1e6);
            }
          }
          List<List<Object>> actual = null;
          double clusterMs = Double.MAX_VALUE;
          for (int r = 0; r <= runs; r++) {
            long s = System.nanoTime();
            actual = io.quiver.server.sql.FlightSqlCalls.rows(sql, text);
            if (r > 0) {
              clusterMs = Math.min(clusterMs, (System.nanoTime() - s) / 1e6);
            }
          }
          String diff = TpchQueries.difference(expected, actual);
          differing += diff == null ? 0 : 1;
          double ratio = clusterMs / Math.max(duckMs, 0.001);
          worst = Math.max(worst, ratio);
          logSum += Math.log(ratio);
          System.out.printf(Locale.ROOT, "Q%02d   %8d %12.1f %12.1f %8.2f  %s%n", q, actual.size(), duckMs, clusterMs,
              ratio, diff == null ? "equal" : "DIFFERS: " + diff);
        }
        double geomean = Math.exp(logSum / TpchQueries.COUNT);
        System.out.printf(Locale.ROOT, "%ngeometric mean of cluster/DuckDB: %.2f (goal <= 3); worst query: %.2fx "
            + "(goal <= 10); results equal: %d of %d%n", geomean, worst, TpchQueries.COUNT - differing,
            TpchQueries.COUNT);
        return differing == 0 ? 0 : 1;
      }
    }
  }
}
