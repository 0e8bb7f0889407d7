package io.quiver.server.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.flight.sql.FlightSqlClient.ExecuteIngestOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBAppender;
import org.duckdb.DuckDBConnection;

/**
 * {@code ./quiver bench ingest}: --rows rows of (BIGINT, VARCHAR, DOUBLE) written by DuckDB's
 * appender and by an INSERT from Arrow in this process (the baselines), then through Flight SQL
 * bulk ingest into a node-local table and into distributed tables (hash, 6 shards; replication
 * factor 1 and 2) of a 3-node cluster started on loopback. Prints rows/s, MB/s of Arrow buffer
 * bytes, and each path's ratio to the appender measured in the same run.
 */
final class IngestBench {
  private static final int BATCH = 100_000;
  private static final Schema SCHEMA = new Schema(List.of(Field.nullable("id", new ArrowType.Int(64, true)),
      Field.nullable("customer", ArrowType.Utf8.INSTANCE),
      Field.nullable("amount", new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE))));

  private record Result(String path, long rows, long bytes, double seconds) {
    double rowsPerSecond() {
      return rows / seconds;
    }
  }

  private final Path baseDir;
  private final long rows;

  IngestBench(Path baseDir, long rows) {
    this.baseDir = baseDir;
    this.rows = rows;
  }

  int run() throws Exception {
    List<Result> results = new ArrayList<>();
    try (BufferAllocator allocator = new RootAllocator()) {
      List<VectorSchemaRoot> batches = batches(allocator);
      long bytes = batches.stream().mapToLong(b -> b.getFieldVectors().stream()
          .mapToLong(v -> v.getBufferSize()).sum()).sum();
      try {
        System.out.printf("Ingest benchmark: %,d rows (BIGINT, VARCHAR, DOUBLE), %.1f MB of Arrow buffers%n", rows,
            bytes / 1e6);
        results.add(appender(bytes));
        results.add(arrowInsert(allocator, batches, bytes));
        System.out.println("Starting a 3-node cluster on loopback ...");
        try (LocalCluster cluster = new LocalCluster(baseDir.resolve("cluster"), 3, "bench-ingest").start();
            FlightSqlClient sql = cluster.client(allocator, 0)) {
          cluster.awaitFormed(60);
          sql.executeUpdate("CREATE TABLE local_t (id BIGINT, customer VARCHAR, amount DOUBLE)");
          results.add(flight(sql, "Flight SQL ingest, node-local table", "local_t", batches, bytes));
          for (int rf : new int[] {1, 2}) {
            String table = "dist_rf" + rf;
            io.quiver.server.sql.FlightSqlCalls.firstValue(sql, "SELECT trex_db_create_table('CREATE TABLE " + table + " (id BIGINT, customer "
                + "VARCHAR, amount DOUBLE)', '{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 6, "
                + "\"replication_factor\": " + rf + "}')");
            results.add(flight(sql, "Flight SQL ingest, distributed rf " + rf, table, batches, bytes));
            long count = SqlCommand.count(sql, "SELECT count(*) FROM " + table);
            if (count != rows) {
              System.err.printf("quiver: %s holds %,d rows, expected %,d%n", table, count, rows);
              return 1;
            }
          }
        }
      } finally {
        batches.forEach(VectorSchemaRoot::close);
      }
    }
    double base = results.get(0).rowsPerSecond();
    System.out.printf("%n%-40s %12s %9s %12s %9s %8s%n", "path", "rows", "seconds", "rows/s", "MB/s", "ratio");
    for (Result r : results) {
      System.out.printf(Locale.ROOT, "%-40s %,12d %9.2f %,12.0f %9.1f %8.2f%n", r.path(), r.rows(), r.seconds(),
          r.rowsPerSecond(), r.bytes() / 1e6 / r.seconds(), r.rowsPerSecond() / base);
    }
    System.out.println("\nratio = rows/s of the path / rows/s of DuckDB's appender in this process, same run. The "
        + "cluster's 3 nodes and this client share the machine's cores.");
    return 0;
  }

  private List<VectorSchemaRoot> batches(BufferAllocator allocator) {
    List<VectorSchemaRoot> out = new ArrayList<>();
    for (long from = 0; from < rows; from += BATCH) {
      int n = (int) Math.min(BATCH, rows - from);
      VectorSchemaRoot root = VectorSchemaRoot.create(SCHEMA, allocator);
      root.allocateNew();
      for (int i = 0; i < n; i++) {
        long v = from + i;
        ((BigIntVector) root.getVector(0)).setSafe(i, v);
        ((VarCharVector) root.getVector(1)).setSafe(i, ("customer-" + (v % 1000)).getBytes(StandardCharsets.UTF_8));
        ((Float8Vector) root.getVector(2)).setSafe(i, v * 0.25);
      }
      root.setRowCount(n);
      out.add(root);
    }
    return out;
  }

  private Result appender(long bytes) throws Exception {
    try (DuckDBConnection c = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:"
        + baseDir.resolve("appender.duckdb")); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE t (id BIGINT, customer VARCHAR, amount DOUBLE)");
      long start = System.nanoTime();
      try (DuckDBAppender a = c.createAppender(DuckDBConnection.DEFAULT_SCHEMA, "t")) {
        for (long v = 0; v < rows; v++) {
          a.beginRow();
          a.append(v);
          a.append("customer-" + (v % 1000));
          a.append(v * 0.25);
          a.endRow();
        }
      }
      return print(new Result("DuckDB appender (in process)", rows, bytes, (System.nanoTime() - start) / 1e9));
    }
  }

  private Result arrowInsert(BufferAllocator allocator, List<VectorSchemaRoot> batches, long bytes) throws Exception {
    try (DuckDBConnection c = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:"
        + baseDir.resolve("arrow.duckdb")); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE t (id BIGINT, customer VARCHAR, amount DOUBLE)");
      long start = System.nanoTime();
      for (VectorSchemaRoot batch : batches) {
        try (ArrowArrayStream stream = ArrowArrayStream.allocateNew(allocator);
            ArrowReader reader = new io.quiver.server.query.SingleBatchReader(allocator, batch)) {
          Data.exportArrayStream(allocator, reader, stream);
          c.registerArrowStream("incoming", stream);
          s.execute("INSERT INTO t SELECT * FROM incoming");
        }
      }
      return print(new Result("DuckDB INSERT from Arrow (in process)", rows, bytes, (System.nanoTime() - start) / 1e9));
    }
  }

  private Result flight(FlightSqlClient sql, String path, String table, List<VectorSchemaRoot> batches, long bytes) {
    ExecuteIngestOptions append = new ExecuteIngestOptions(table, TableDefinitionOptions.newBuilder()
        .setIfNotExist(TableDefinitionOptions.TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL)
        .setIfExists(TableDefinitionOptions.TableExistsOption.TABLE_EXISTS_OPTION_APPEND).build(), null, null, null);
    long start = System.nanoTime();
    long written = 0;
    for (VectorSchemaRoot batch : batches) {
      written += sql.executeIngest(batch, append);
    }
    return print(new Result(path, written, bytes, (System.nanoTime() - start) / 1e9));
  }

  private static Result print(Result r) {
    System.out.printf(Locale.ROOT, "  %-40s %,12.0f rows/s%n", r.path(), r.rowsPerSecond());
    return r;
  }
}
