package io.quiver.server.cluster;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.FlightStreamReader;
import io.quiver.server.query.QueryExecution;
import io.quiver.server.query.RemoteTables;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data-node side of a distributed write: one open DuckDB transaction per write id, into which
 * the coordinator runs shard statements and appends routed rows, then commits or aborts. Nothing
 * of a write is visible before its commit. A transaction whose coordinator went silent for
 * {@link #IDLE_TIMEOUT_MILLIS} is rolled back, so a crashed coordinator leaves nothing half done.
 */
public final class ShardTransactions implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ShardTransactions.class);
  static final long IDLE_TIMEOUT_MILLIS = 120_000;

  private final DuckDbEngine engine;
  private final BufferAllocator allocator;
  private final RemoteTables.Locator locator;
  private final Map<String, Txn> open = new ConcurrentHashMap<>();
  private final ScheduledExecutorService reaper = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "quiver-shard-txn-reaper");
    t.setDaemon(true);
    return t;
  });

  /** Shard tables whose rows are being moved: table → lease deadline (nanoTime). */
  private final Map<String, Long> frozen = new ConcurrentHashMap<>();

  private static final class Txn {
    final DuckDBConnection conn;
    final java.util.Set<String> tables = ConcurrentHashMap.newKeySet();
    final List<AutoCloseable> attachments = new ArrayList<>();
    volatile long lastUsed = System.nanoTime();

    Txn(DuckDBConnection conn) {
      this.conn = conn;
    }
  }

  public ShardTransactions(DuckDbEngine engine, BufferAllocator allocator, RemoteTables.Locator locator) {
    this.engine = engine;
    this.allocator = allocator;
    this.locator = locator;
    reaper.scheduleWithFixedDelay(this::abortIdle, 5, 5, TimeUnit.SECONDS);
  }

  /**
   * Runs a statement on shard table {@code table} inside write {@code txn}; returns its update
   * count (0 for statements without one).
   */
  public long exec(String txn, String table, String sql) {
    Txn t = txn(txn);
    claim(t, table);
    synchronized (t) {
      t.lastUsed = System.nanoTime();
      try (PreparedStatement ps = RemoteTables.prepare(t.conn, sql, locator, allocator, true, t.attachments)) {
        boolean rows = ps.execute();
        return rows ? 0 : Math.max(0, ps.getLargeUpdateCount());
      } catch (SQLException e) {
        throw DuckDbErrors.translate(e);
      }
    }
  }

  /** Appends an incoming Arrow stream to {@code table} inside write {@code txn}; returns the rows appended. */
  public long append(String txn, String table, FlightStream stream) {
    Txn t = txn(txn);
    claim(t, table);
    synchronized (t) {
      t.lastUsed = System.nanoTime();
      String view = "__quiver_append_" + UUID.randomUUID().toString().replace('-', '_');
      try (BufferAllocator child = allocator.newChildAllocator("append-" + table, 0, Long.MAX_VALUE);
          FlightStreamReader reader = new FlightStreamReader(child, stream);
          ArrowArrayStream exported = ArrowArrayStream.allocateNew(child);
          Statement s = t.conn.createStatement()) {
        Data.exportArrayStream(child, reader, exported);
        t.conn.registerArrowStream(view, exported);
        s.execute("INSERT INTO " + ArrowSchemas.quoteIdentifier(table) + " SELECT * FROM " + view);
        s.execute("DROP VIEW IF EXISTS " + view);
        t.lastUsed = System.nanoTime();
        return reader.rows();
      } catch (SQLException e) {
        throw DuckDbErrors.translate(e);
      } catch (java.io.IOException e) {
        throw new QuiverException(ErrorCode.IO_ERROR, "reading rows for " + table + " failed: " + e.getMessage(), e);
      }
    }
  }

  /** Records that write {@code t} touches {@code table}; refused while the table is frozen. */
  private synchronized void claim(Txn t, String table) {
    if (table == null || table.isBlank()) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "a shard write names the shard table it writes");
    }
    Long until = frozen.get(table);
    if (until != null && System.nanoTime() < until) {
      throw new QuiverException(ErrorCode.TRANSACTION_ERROR, "shard " + table + " is being moved by a repartitioning "
          + "of its table; writes to the table are refused until the move finishes (see "
          + "trex_db_repartition_status()); retry then");
    }
    t.tables.add(table);
  }

  /**
   * Stops writes to {@code table} for {@code leaseMillis} (renewed by calling again) and waits until
   * the writes already holding it have committed or rolled back, so that the rows read from it
   * afterwards are final. Fails when they do not end within {@code waitMillis}.
   */
  public void freeze(String table, long leaseMillis, long waitMillis) {
    synchronized (this) {
      frozen.put(table, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(leaseMillis));
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
    while (open.values().stream().anyMatch(t -> t.tables.contains(table))) {
      if (System.nanoTime() > deadline) {
        frozen.remove(table);
        throw new QuiverException(ErrorCode.TRANSACTION_ERROR, "writes to shard " + table + " did not finish within "
            + waitMillis / 1000 + " s; the table cannot be moved now");
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        frozen.remove(table);
        throw new QuiverException(ErrorCode.QUERY_CANCELLED, "interrupted while freezing " + table, e);
      }
    }
  }

  public void unfreeze(String table) {
    frozen.remove(table);
  }

  /** Commits write {@code txn}. Unknown ids fail: the write was rolled back (idle) or never began here. */
  public void commit(String txn) {
    Txn t = open.remove(txn);
    if (t == null) {
      throw new QuiverException(ErrorCode.TRANSACTION_ERROR, "write " + txn
          + " is not open on this node (it was rolled back after " + IDLE_TIMEOUT_MILLIS / 1000
          + " s without its coordinator, or never began)");
    }
    synchronized (t) {
      try (Statement s = t.conn.createStatement()) {
        s.execute("COMMIT");
      } catch (SQLException e) {
        throw DuckDbErrors.translate(e);
      } finally {
        close(t);
      }
    }
  }

  /** Rolls back write {@code txn}; unknown ids are fine (nothing to undo). */
  public void abort(String txn) {
    Txn t = open.remove(txn);
    if (t != null) {
      rollback(t);
    }
  }

  public int openCount() {
    return open.size();
  }

  private Txn txn(String id) {
    if (id == null || id.isBlank()) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "a shard write needs a write id");
    }
    return open.computeIfAbsent(id, k -> {
      DuckDBConnection conn = engine.newConnection();
      try (Statement s = conn.createStatement()) {
        s.execute("BEGIN TRANSACTION");
        return new Txn(conn);
      } catch (SQLException e) {
        try {
          conn.close();
        } catch (SQLException ignored) {
          // already failing
        }
        throw DuckDbErrors.translate(e);
      }
    });
  }

  private void rollback(Txn t) {
    synchronized (t) {
      try (Statement s = t.conn.createStatement()) {
        s.execute("ROLLBACK");
      } catch (SQLException e) {
        LOG.debug("rollback failed", e);
      } finally {
        close(t);
      }
    }
  }

  private static void close(Txn t) {
    try {
      t.conn.close();
    } catch (SQLException e) {
      LOG.debug("closing a shard write connection failed", e);
    }
    QueryExecution.closeAll(t.attachments);
  }

  private void abortIdle() {
    long now = System.nanoTime();
    for (Map.Entry<String, Txn> e : open.entrySet()) {
      if (now - e.getValue().lastUsed > TimeUnit.MILLISECONDS.toNanos(IDLE_TIMEOUT_MILLIS)
          && open.remove(e.getKey(), e.getValue())) {
        LOG.warn("write {} rolled back: its coordinator was silent for {} s", e.getKey(), IDLE_TIMEOUT_MILLIS / 1000);
        rollback(e.getValue());
      }
    }
  }

  @Override
  public void close() {
    reaper.shutdownNow();
    for (String id : new ArrayList<>(open.keySet())) {
      abort(id);
    }
  }
}
