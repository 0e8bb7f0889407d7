package io.quiver.server.query;

import io.quiver.admission.QueryState;
import io.quiver.admission.QueryStateMachine;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.FlightErrors;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSet;
import org.duckdb.DuckDBResultSetMetaData;
import org.duckdb.StatementReturnType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One statement on its way through the local engine: its own connection, its own child allocator
 * and its own {@link QueryStateMachine}. {@link #run()} executes it (on a query thread); a query's
 * rows are then read batch by batch from {@link #reader()}. Whatever ends the query (last batch,
 * error, client cancel, TTL, shutdown) goes through the state machine, whose terminal listener
 * interrupts DuckDB and releases everything exactly once.
 */
public final class QueryExecution {
  private static final Logger LOG = LoggerFactory.getLogger(QueryExecution.class);

  /** What a statement returns, from DuckDB's prepared-statement metadata. */
  public enum Kind {
    ROWS,
    UPDATE_COUNT,
    NOTHING
  }

  /**
   * Counts the statements this node ran that are not queries (DDL, DML, settings): plans cached over
   * this node's catalog are keyed by it ({@link Fragments}).
   */
  static final java.util.concurrent.atomic.AtomicLong LOCAL_CHANGES = new java.util.concurrent.atomic.AtomicLong();

  public static final Schema UPDATE_COUNT_SCHEMA =
      new Schema(List.of(new Field("Count", FieldType.nullable(new ArrowType.Int(64, true)), null)));

  private final String handle;
  private final QueryStateMachine state;
  private final String sql;
  private final BufferAllocator allocator;
  private final DuckDBConnection conn;
  private final PreparedStatement stmt;
  private final Kind kind;
  private final Schema schema;
  private final List<List<Object>> parameterRows;
  private final int batchRows;
  private final AllocatorReaper reaper;
  private final List<AutoCloseable> attachments;
  private final CompletableFuture<Void> executed = new CompletableFuture<>();
  private final Object resourceLock = new Object();
  private DuckDBResultSet resultSet;
  private ArrowReader reader;
  private long updateCount = -1;
  private boolean closed;

  private QueryExecution(String handle, QueryStateMachine state, String sql, BufferAllocator allocator,
      DuckDBConnection conn, PreparedStatement stmt, Kind kind, Schema schema, List<List<Object>> parameterRows,
      int batchRows, AllocatorReaper reaper, List<AutoCloseable> attachments) {
    this.handle = handle;
    this.attachments = attachments;
    this.reaper = reaper;
    this.state = state;
    this.sql = sql;
    this.allocator = allocator;
    this.conn = conn;
    this.stmt = stmt;
    this.kind = kind;
    this.schema = schema;
    this.parameterRows = parameterRows;
    this.batchRows = batchRows;
    state.onTerminal(this::release);
  }

  /**
   * Prepares {@code sql} on a fresh connection. On failure everything acquired so far is released
   * and the DuckDB error is translated.
   */
  static QueryExecution prepare(String handle, QueryStateMachine state, String sql, SessionContext session,
      DuckDBConnection conn, BufferAllocator allocator, List<List<Object>> parameterRows, int batchRows,
      AllocatorReaper reaper, RemoteTables.Locator remoteTables) {
    PreparedStatement stmt = null;
    List<AutoCloseable> attachments = new java.util.ArrayList<>();
    try {
      session.apply(conn);
      String toRun = DistributedExplain.rewrite(conn, sql, remoteTables, allocator).orElse(sql);
      stmt = RemoteTables.prepare(conn, toRun, remoteTables, allocator, true, attachments);
      DuckDBResultSetMetaData md = (DuckDBResultSetMetaData) stmt.getMetaData();
      Kind kind = kindOf(md.getReturnType());
      if (kind != Kind.ROWS) {
        LOCAL_CHANGES.incrementAndGet(); // DDL, DML, SET: what was planned over this node's catalog may be stale
      }
      int expected = stmt.getParameterMetaData().getParameterCount();
      checkParameters(expected, parameterRows, kind);
      Schema schema = switch (kind) {
        case ROWS -> ArrowSchemas.ofResult(conn, allocator, md);
        case UPDATE_COUNT -> UPDATE_COUNT_SCHEMA;
        case NOTHING -> new Schema(List.of());
      };
      return new QueryExecution(handle, state, sql, allocator, conn, stmt, kind, schema, parameterRows, batchRows,
          reaper, attachments);
    } catch (SQLException | RuntimeException e) {
      closeQuietly(stmt);
      closeQuietly(conn);
      closeAll(attachments);
      allocator.close();
      QuiverException q = FlightErrors.toQuiver(e);
      state.fail(q);
      throw q;
    }
  }

  static Kind kindOf(StatementReturnType type) {
    return switch (type) {
      case QUERY_RESULT -> Kind.ROWS;
      case CHANGED_ROWS -> Kind.UPDATE_COUNT;
      case NOTHING -> Kind.NOTHING;
    };
  }

  private static void checkParameters(int expected, List<List<Object>> rows, Kind kind) {
    if (rows.isEmpty()) {
      if (expected > 0) {
        throw QuiverException.user(ErrorCode.INVALID_PARAMETERS,
            "the statement has %d parameter(s) but none were bound", expected);
      }
      return;
    }
    for (List<Object> row : rows) {
      if (row.size() != expected) {
        throw QuiverException.user(ErrorCode.INVALID_PARAMETERS,
            "the statement has %d parameter(s) but %d value(s) were bound", expected, row.size());
      }
    }
    if (kind == Kind.ROWS && rows.size() > 1) {
      throw QuiverException.user(ErrorCode.INVALID_PARAMETERS,
          "a query takes one row of parameters, but %d rows were bound", rows.size());
    }
  }

  public String handle() {
    return handle;
  }

  public QueryStateMachine state() {
    return state;
  }

  public String sql() {
    return sql;
  }

  public Kind kind() {
    return kind;
  }

  /** The Arrow schema of the result, known before the statement runs. */
  public Schema schema() {
    return schema;
  }

  public CompletableFuture<Void> executed() {
    return executed;
  }

  /** The streaming result; valid once {@link #executed()} completed normally and kind is ROWS. */
  public ArrowReader reader() {
    return reader;
  }

  public long updateCount() {
    return updateCount;
  }

  /** The query's own allocator; everything it sends is allocated here. */
  public BufferAllocator allocator() {
    return allocator;
  }

  /** Guards the engine objects against release while a batch is being read or sent. */
  public Object resourceLock() {
    return resourceLock;
  }

  /** True once resources were released; readers must stop. Call holding {@link #resourceLock()}. */
  public boolean isReleased() {
    return closed;
  }

  /** Executes the statement. Runs on a query thread; never throws. */
  void run() {
    if (!state.start()) {
      executed.completeExceptionally(state.failure() != null ? state.failure()
          : new QuiverException(ErrorCode.QUERY_CANCELLED, "query " + state.queryId() + " ended before it started"));
      return;
    }
    try {
      synchronized (resourceLock) {
        if (closed) {
          state.checkNotAborted();
        }
        switch (kind) {
          case ROWS -> {
            bind(parameterRows.isEmpty() ? List.of() : parameterRows.get(0));
            resultSet = (DuckDBResultSet) stmt.executeQuery();
            reader = (ArrowReader) resultSet.arrowExportStream(allocator, batchRows);
          }
          case UPDATE_COUNT, NOTHING -> updateCount = executeUpdates();
        }
      }
      executed.complete(null);
    } catch (SQLException | RuntimeException e) {
      QuiverException q = state.state() == QueryState.CANCELLED ? state.failure() : FlightErrors.toQuiver(e);
      state.fail(q);
      executed.completeExceptionally(q);
    }
  }

  private long executeUpdates() throws SQLException {
    if (parameterRows.size() <= 1) {
      bind(parameterRows.isEmpty() ? List.of() : parameterRows.get(0));
      long n = stmt.executeLargeUpdate();
      return kind == Kind.NOTHING ? 0 : n;
    }
    // Several parameter rows are one statement to the client: all rows or none.
    try (Statement s = conn.createStatement()) {
      s.execute("BEGIN TRANSACTION");
    }
    long total = 0;
    try {
      for (List<Object> row : parameterRows) {
        state.checkNotAborted();
        bind(row);
        total += stmt.executeLargeUpdate();
      }
      try (Statement s = conn.createStatement()) {
        s.execute("COMMIT");
      }
    } catch (SQLException | RuntimeException e) {
      try (Statement s = conn.createStatement()) {
        s.execute("ROLLBACK");
      } catch (SQLException rollback) {
        e.addSuppressed(rollback);
      }
      throw e;
    }
    return kind == Kind.NOTHING ? 0 : total;
  }

  private void bind(List<Object> row) throws SQLException {
    for (int i = 0; i < row.size(); i++) {
      Object v = row.get(i);
      if (v instanceof byte[] bytes) {
        stmt.setBytes(i + 1, bytes);
      } else {
        stmt.setObject(i + 1, v);
      }
    }
  }

  /** Ends the query as cancelled; DuckDB is interrupted and resources are released. */
  public boolean cancel(String reason) {
    return state.cancel(reason);
  }

  private void release(QueryState terminal) {
    if (terminal != QueryState.FINISHED) {
      try {
        stmt.cancel(); // interrupts DuckDB; safe while another thread is executing
      } catch (SQLException e) {
        LOG.debug("interrupting query {} failed", state.queryId(), e);
      }
    }
    synchronized (resourceLock) {
      closed = true;
      closeQuietly(reader);
      closeQuietly(resultSet);
      closeQuietly(stmt);
      closeQuietly(conn);
      closeAll(attachments);
    }
    reaper.closeWhenDrained(allocator, state.queryId().value());
    LOG.debug("query {} {}", state.queryId(), terminal);
  }

  /** Closes remote-table attachments, newest first, after the connection that scanned them. */
  public static void closeAll(List<AutoCloseable> resources) {
    for (int i = resources.size() - 1; i >= 0; i--) {
      closeQuietly(resources.get(i));
    }
    resources.clear();
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      LOG.debug("closing {} failed", c.getClass().getSimpleName(), e);
    }
  }
}
