package io.quiver.server.cli;

import io.quiver.server.NodeConfig;
import io.quiver.server.QuiverNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.adbc.core.AdbcConnection;
import org.apache.arrow.adbc.core.AdbcDatabase;
import org.apache.arrow.adbc.core.AdbcDriver;
import org.apache.arrow.adbc.core.AdbcStatement;
import org.apache.arrow.adbc.driver.flightsql.FlightSqlDriver;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Benchmarks. {@code stream}: a (BIGINT, DOUBLE, VARCHAR) table of --rows rows is read end to end
 * through DuckDB's in-process Arrow export (the baseline), through raw Flight DoGet and through
 * the ADBC Flight SQL driver, each against a node started in this process on a loopback port.
 * Prints MB/s of Arrow buffer bytes and each path's ratio to the baseline measured in the same run.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = {"Run a benchmark or diagnostic and print what it measured.",
        "  stream   stream a --rows row (BIGINT, DOUBLE, VARCHAR) result via in-process DuckDB Arrow",
        "           export (baseline), raw Flight DoGet and ADBC Flight SQL; prints MB/s and ratios",
        "  cluster  start 3 node processes on loopback and print join, failure detection (kill -9,",
        "           SIGSTOP), Raft election/failover and rejoin times",
        "  ingest   write --rows rows with DuckDB's appender and INSERT from Arrow (baselines), then with",
        "           Flight SQL bulk ingest into a node-local and into distributed tables of a 3-node",
        "           loopback cluster; prints rows/s, MB/s and ratios (default --rows for ingest: 2000000)",
        "  tpch     load TPC-H at --sf into a --nodes node loopback cluster and into one in-process DuckDB,",
        "           run the 22 queries on both (after --warmup passes of all 22), check the results are",
        "           equal, print times, ratios and their geometric mean (--layout: how the cluster holds",
        "           the tables, as for load-tpch)"})
final class BenchCommand implements java.util.concurrent.Callable<Integer> {
  @Parameters(index = "0", paramLabel = "WHAT", description = "Benchmark to run: stream, cluster, ingest or tpch.")
  String what;

  @Option(names = "--rows", description = "Rows to stream or ingest (default: 10000000 for stream, 2000000 for "
      + "ingest).")
  Long rows;

  @Option(names = "--runs", defaultValue = "3",
      description = "Measured runs per path; the best is reported (default: ${DEFAULT-VALUE}).")
  int runs;

  @Option(names = "--warmup", defaultValue = "5", description = "tpch: passes of all 22 queries on both sides before "
      + "the measured runs, so that the nodes' JVMs have compiled their hot paths, as in a long-running service "
      + "(default: ${DEFAULT-VALUE}; 1 pass leaves the cluster 1.2-1.8 times slower on many queries).")
  int warmup;

  @Option(names = "--sf", defaultValue = "1", description = "tpch: scale factor (default: ${DEFAULT-VALUE}).")
  double sf;

  @Option(names = "--nodes", defaultValue = "3", description = "tpch: nodes in the cluster (default: ${DEFAULT-VALUE}).")
  int nodes;

  @Option(names = "--data-dir", description = "Scratch directory (default: a new temporary directory).")
  Path dataDir;

  @Option(names = "--layout", defaultValue = "reference", description = "tpch: hashed (customer, part and supplier "
      + "hashed on their keys) or reference (replicated to every node); the fact tables are hashed either way "
      + "(default: ${DEFAULT-VALUE}).")
  String layout;

  @Option(names = "--batch-rows", defaultValue = "" + NodeConfig.DEFAULT_BATCH_ROWS,
      description = "Rows per Arrow batch the node sends (default: ${DEFAULT-VALUE}).")
  int batchRows;

  @Override
  public Integer call() throws Exception {
    if (dataDir != null) {
      Files.createDirectories(dataDir); // a scratch directory that does not exist yet is made
    }
    if (what.equals("cluster")) {
      Path base = dataDir != null ? dataDir : Files.createTempDirectory("quiver-bench-cluster");
      return new ClusterBench(base).run();
    }
    if (what.equals("tpch")) {
      if (!(sf > 0) || nodes < 1 || runs < 1 || warmup < 0) {
        System.err.println("quiver: --sf, --nodes and --runs must be positive, --warmup at least 0");
        return 2;
      }
      io.quiver.server.tpch.TpchData.Layout chosen;
      try {
        chosen = io.quiver.server.tpch.TpchData.Layout.parse(layout);
      } catch (IllegalArgumentException e) {
        System.err.println("quiver: --layout: " + e.getMessage());
        return 2;
      }
      Path base = dataDir != null ? dataDir : Files.createTempDirectory("quiver-bench-tpch");
      try {
        return new TpchBench(base, sf, nodes, runs, warmup, chosen).run();
      } finally {
        if (dataDir == null) {
          deleteRecursively(base);
        }
      }
    }
    if (what.equals("ingest")) {
      long n = rows == null ? 2_000_000 : rows;
      if (n < 1) {
        System.err.println("quiver: --rows must be positive");
        return 2;
      }
      Path base = dataDir != null ? dataDir : Files.createTempDirectory("quiver-bench-ingest");
      try {
        return new IngestBench(base, n).run();
      } finally {
        if (dataDir == null) {
          deleteRecursively(base);
        }
      }
    }
    if (!what.equals("stream")) {
      System.err.println("quiver: unknown benchmark '" + what + "'; available: stream, cluster, ingest, tpch");
      return 2;
    }
    long rows = this.rows == null ? 10_000_000 : this.rows;
    if (rows < 1 || runs < 1) {
      System.err.println("quiver: --rows and --runs must be positive");
      return 2;
    }
    Path dir = dataDir != null ? dataDir : Files.createTempDirectory("quiver-bench");
    NodeConfig d = NodeConfig.defaults();
    NodeConfig config = new NodeConfig(d.host(), 0, dir, d.resultTtl(), d.preparedStatementIdleTimeout(), batchRows,
        d.queryThreads(), d.queryMemoryBytes(), d.shuffleMemoryBytes(), d.engineThreads());
    try (QuiverNode node = new QuiverNode(config).start(); BufferAllocator allocator = new RootAllocator()) {
      System.out.printf("Preparing %,d rows (BIGINT, DOUBLE, VARCHAR) in %s ...%n", rows, dir);
      try (DuckDBConnection c = node.engine().newConnection(); Statement s = c.createStatement()) {
        s.execute("CREATE OR REPLACE TABLE bench AS SELECT range::BIGINT AS id, (range * 1.5)::DOUBLE AS x, "
            + "'row-' || range AS s FROM range(" + rows + ")");
      }
      String sql = "SELECT * FROM bench";
      List<Result> results = new ArrayList<>();
      results.add(best("DuckDB in-process Arrow export", () -> inProcess(node, allocator, sql)));
      results.add(best("raw Flight DoGet (JSON ticket)", () -> rawFlight(node, allocator, sql)));
      results.add(best("ADBC Flight SQL (Java driver)", () -> adbc(node, allocator, sql)));
      double base = results.get(0).mbPerSecond();
      System.out.printf("%n%-34s %12s %10s %9s %10s %8s%n", "path", "rows", "MB", "seconds", "MB/s", "ratio");
      for (Result r : results) {
        System.out.printf("%-34s %,12d %10.1f %9.3f %10.1f %8.2f%n", r.name(), r.rows(), r.bytes() / 1e6,
            r.seconds(), r.mbPerSecond(), r.mbPerSecond() / base);
      }
      System.out.println("\nratio = MB/s of the path / MB/s of DuckDB's in-process Arrow export, same run; "
          + "best of " + runs + " runs each (after one warm-up run).");
      for (Result r : results) {
        if (r.rows() != rows) {
          System.err.printf("quiver: %s read %,d rows, expected %,d%n", r.name(), r.rows(), rows);
          return 1;
        }
      }
      return 0;
    } finally {
      if (dataDir == null) {
        deleteRecursively(dir);
      }
    }
  }

  record Result(String name, long rows, long bytes, double seconds) {
    double mbPerSecond() {
      return bytes / 1e6 / seconds;
    }
  }

  @FunctionalInterface
  interface Run {
    long[] rowsAndBytes() throws Exception;
  }

  private Result best(String name, Run run) throws Exception {
    run.rowsAndBytes(); // warm-up
    Result best = null;
    for (int i = 0; i < runs; i++) {
      long start = System.nanoTime();
      long[] rb = run.rowsAndBytes();
      Result r = new Result(name, rb[0], rb[1], (System.nanoTime() - start) / 1e9);
      if (best == null || r.seconds() < best.seconds()) {
        best = r;
      }
    }
    System.out.printf("  %-34s best %.3f s%n", name, best.seconds());
    return best;
  }

  private static long[] inProcess(QuiverNode node, BufferAllocator allocator, String sql) throws Exception {
    try (DuckDBConnection c = node.engine().newConnection(); Statement s = c.createStatement();
        DuckDBResultSet rs = (DuckDBResultSet) s.executeQuery(sql);
        ArrowReader reader = (ArrowReader) rs.arrowExportStream(allocator, node.config().batchRows())) {
      return drain(reader);
    }
  }

  private static long[] rawFlight(QuiverNode node, BufferAllocator allocator, String sql) throws Exception {
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1", node.port()))
        .build()) {
      String ticket = "{\"query\": \"" + sql.replace("\"", "\\\"") + "\"}";
      try (FlightStream stream = client.getStream(new Ticket(ticket.getBytes(StandardCharsets.UTF_8)))) {
        long n = 0;
        long bytes = 0;
        while (stream.next()) {
          n += stream.getRoot().getRowCount();
          bytes += bytes(stream.getRoot());
        }
        return new long[] {n, bytes};
      }
    }
  }

  private static long[] adbc(QuiverNode node, BufferAllocator allocator, String sql) throws Exception {
    Map<String, Object> params = new HashMap<>();
    AdbcDriver.PARAM_URI.set(params, "grpc+tcp://127.0.0.1:" + node.port());
    try (AdbcDatabase db = new FlightSqlDriver(allocator).open(params); AdbcConnection conn = db.connect();
        AdbcStatement stmt = conn.createStatement()) {
      stmt.setSqlQuery(sql);
      try (AdbcStatement.QueryResult result = stmt.executeQuery()) {
        return drain(result.getReader());
      }
    }
  }

  private static long[] drain(ArrowReader reader) throws Exception {
    long n = 0;
    long bytes = 0;
    while (reader.loadNextBatch()) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      n += root.getRowCount();
      bytes += bytes(root);
    }
    return new long[] {n, bytes};
  }

  private static long bytes(VectorSchemaRoot root) {
    long b = 0;
    for (FieldVector v : root.getFieldVectors()) {
      b += v.getBufferSize();
    }
    return b;
  }

  private static void deleteRecursively(Path dir) throws java.io.IOException {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
