package io.quiver.server.tpch;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.flight.sql.FlightSqlClient.ExecuteIngestOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Loads TPC-H into a Quiver node over Flight SQL: creates the eight tables (distributed when the
 * node is in a cluster with Raft metadata, node-local otherwise) and streams generated batches with
 * Flight SQL bulk ingest, one table part per generator pass. Generation runs on its own thread,
 * one batch ahead of the upload. Prints a progress bar with rows/s per table.
 */
public final class TpchLoader {
  private static final int BATCH_ROWS = 100_000;
  private static final int PARTS = 20;

  /** What a load did, per table. */
  public record Loaded(String table, long rows, double seconds) {}

  private final FlightSqlClient sql;
  private final BufferAllocator allocator;
  private final PrintStream progress;

  public TpchLoader(FlightSqlClient sql, BufferAllocator allocator, PrintStream progress) {
    this.sql = sql;
    this.allocator = allocator;
    this.progress = progress;
  }

  /**
   * True when the node has Raft metadata, i.e. can hold distributed tables; then waits (up to 30 s)
   * until the Raft group has a leader, as a freshly started cluster may not have one yet.
   */
  public boolean clusterMode() throws InterruptedException {
    String members = firstValue("SELECT value FROM trex_db_config() WHERE key = 'raft_members'");
    if (members == null || members.equals("none")) {
      return false;
    }
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (true) {
      try {
        if (firstValue("SELECT leader FROM trex_db_raft_status()") != null) {
          return true;
        }
      } catch (RuntimeException e) {
        // the Raft store is still starting
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the cluster's Raft group (" + members + ") has no leader after 30 s; are a "
            + "majority of its members running?");
      }
      Thread.sleep(200);
    }
  }

  public List<Loaded> load(double sf, int partitions, boolean distributed) throws Exception {
    return load(sf, partitions, distributed, TpchData.Layout.HASHED);
  }

  /** Loads every table at {@code sf}; distributed ones in {@code layout}. The tables must not exist. */
  public List<Loaded> load(double sf, int partitions, boolean distributed, TpchData.Layout layout) throws Exception {
    String names = "'" + String.join("', '", TpchData.TABLES) + "'";
    String existing = firstValue("SELECT string_agg(DISTINCT table_name, ', ' ORDER BY table_name) FROM (SELECT "
        + "table_name FROM information_schema.tables WHERE table_schema = 'main'"
        + (distributed ? " UNION ALL SELECT table_name FROM trex_db_partitions()" : "") + ") WHERE table_name IN ("
        + names + ")");
    if (existing != null) {
      throw new IllegalStateException("these TPC-H tables exist already: " + existing + "; drop them (DROP TABLE "
          + "works for distributed tables too) or load into another node");
    }
    List<Loaded> out = new ArrayList<>();
    for (String table : TpchData.TABLES) {
      String create = TpchData.createSql(table);
      if (distributed) {
        firstValue("SELECT trex_db_create_table('" + create + "', '" + TpchData.partitionConfig(table, partitions, layout)
            + "')");
      } else {
        sql.executeUpdate(create);
      }
      out.add(loadTable(table, sf));
    }
    return out;
  }

  private Loaded loadTable(String table, double sf) throws Exception {
    ExecuteIngestOptions append = new ExecuteIngestOptions(table, TableDefinitionOptions.newBuilder()
        .setIfNotExist(TableDefinitionOptions.TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL)
        .setIfExists(TableDefinitionOptions.TableExistsOption.TABLE_EXISTS_OPTION_APPEND).build(), null, null, null);
    // generator parts drive the progress bar; a part ends in a partial batch, so small tables get one
    int parts = (int) Math.max(1, Math.min(PARTS, TpchData.approxRows(table, sf) / BATCH_ROWS));
    long start = System.nanoTime();
    long rows = 0;
    BlockingQueue<Object> filled = new ArrayBlockingQueue<>(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread generator = new Thread(() -> {
      try {
        for (int part = 1; part <= parts; part++) {
          int p = part;
          try (VectorSchemaRoot root = VectorSchemaRoot.create(TpchData.schema(table), allocator)) {
            TpchData.generate(table, sf, p, parts, root, BATCH_ROWS, batch -> {
              try {
                // hand the buffers over (no copy) so that generation continues while they upload
                VectorSchemaRoot copy = VectorSchemaRoot.create(batch.getSchema(), allocator);
                for (int i = 0; i < batch.getFieldVectors().size(); i++) {
                  batch.getVector(i).makeTransferPair(copy.getVector(i)).transfer();
                }
                copy.setRowCount(batch.getRowCount());
                filled.put(new Object[] {copy, p});
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
              }
            });
          }
        }
      } catch (Throwable t) {
        failure.set(t);
      } finally {
        try {
          filled.put("end");
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }, "tpch-" + table);
    generator.setDaemon(true);
    generator.start();
    int partsDone = 0;
    try {
      while (true) {
        Object next = filled.take();
        if (next instanceof String) {
          break;
        }
        Object[] batch = (Object[]) next;
        try (VectorSchemaRoot root = (VectorSchemaRoot) batch[0]) {
          rows += sql.executeIngest(root, append);
        }
        partsDone = (int) batch[1] - 1;
        bar(table, partsDone, parts, rows, start);
      }
    } finally {
      generator.interrupt();
      generator.join(10_000);
      Object left;
      while ((left = filled.poll()) != null) {
        if (left instanceof Object[] b) {
          ((VectorSchemaRoot) b[0]).close();
        }
      }
    }
    if (failure.get() != null) {
      throw new IllegalStateException("generating " + table + " failed: " + failure.get().getMessage(), failure.get());
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    bar(table, parts, parts, rows, start);
    progress.println();
    return new Loaded(table, rows, seconds);
  }

  private void bar(String table, int done, int total, long rows, long startNanos) {
    int width = 30;
    int filledWidth = (int) Math.round(width * (double) done / total);
    double seconds = Math.max(1e-9, (System.nanoTime() - startNanos) / 1e9);
    progress.printf(Locale.ROOT, "\r%-9s [%s%s] %3d%%  %,12d rows  %,10.0f rows/s", table,
        "#".repeat(filledWidth), "-".repeat(width - filledWidth), 100 * done / total, rows, rows / seconds);
    progress.flush();
  }

  /** Runs a query and returns the first column of its first row (as text), or null. */
  public String firstValue(String query) {
    return io.quiver.server.sql.FlightSqlCalls.firstValue(sql, query);
  }
}
