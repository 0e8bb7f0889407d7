package io.quiver.server.query;

import com.google.protobuf.ByteString;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.coordinator.plan.CalcitePlanner;
import java.io.IOException;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A statement run as more than one exchange ({@link CalcitePlanner#staged}): each stage is a split
 * of its own (an aggregate the one-exchange plan cannot place: under a join, or a scalar
 * sub-query's), run first; its rows are kept in a temporary table named like the stage on this
 * node, then sent whole, as an Arrow IPC stream in the fragment's ticket, to every fragment of a
 * later split that reads them. The last split (the rest of the statement) reads them like a
 * replicated table. When the rest reads no partitioned table, one fragment runs it, on a node
 * holding its largest replicated table.
 *
 * <p>A stage's rows are sent only up to {@link RemoteTables.Locator#stageRowsMaxBytes()} bytes of
 * Arrow IPC ({@code trex_db_set('stage_rows_max_bytes', n)}); a stage with more rows makes the
 * statement run gathered instead (correct, and logged), never truncated.
 */
final class Stages {
  private static final Logger LOG = LoggerFactory.getLogger(Stages.class);
  /** Rows per Arrow batch of a stage's rows. */
  private static final int BATCH_ROWS = 64 * 1024;

  private Stages() {}

  /** One stage, placed and checked. */
  record Stage(CalcitePlanner.Stage stage, Fragments.Prepared prepared) {
    String name() {
      return stage.name();
    }
  }

  /** The stages of {@code sql} and its rest, placed and checked; empty when it has no such plan. */
  static Optional<Planned> plan(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    if (!locator.calcitePlanner() || !locator.pushdown()) {
      return Optional.empty();
    }
    Map<String, Optional<RemoteTables.Layout>> layouts = new HashMap<>();
    CalcitePlanner.StagedOutcome outcome;
    try {
      outcome = CalcitePlanner.staged(sql, Fragments.catalog(layouts, locator));
    } catch (RuntimeException e) {
      LOG.debug("no staged plan: {}", e.toString());
      return Optional.empty();
    }
    if (outcome.staged().isEmpty()) {
      LOG.debug("no staged plan: {}", outcome.reason());
      return Optional.empty();
    }
    List<String> standIns = new ArrayList<>();
    try {
      List<Stage> stages = new ArrayList<>();
      for (CalcitePlanner.Stage s : outcome.staged().get().stages()) {
        Optional<Fragments.Prepared> p = Fragments.prepare(conn, s.sql(), s.plan(), layouts, null);
        if (p.isEmpty()) {
          LOG.debug("no staged plan: stage {} failed its check", s.name());
          return Optional.empty();
        }
        standIn(conn, s.name(), p.get());
        standIns.add(s.name());
        stages.add(new Stage(s, p.get()));
      }
      Optional<Fragments.Prepared> rest = Fragments.prepare(conn, sql, outcome.staged().get().rest(), layouts, null);
      if (rest.isEmpty()) {
        LOG.debug("no staged plan: the rest failed its check");
      }
      return rest.map(r -> new Planned(List.copyOf(stages), r));
    } catch (SQLException e) {
      LOG.debug("no staged plan: {}", e.toString());
      return Optional.empty();
    } finally {
      drop(conn, standIns);
    }
  }

  /** An empty temporary table with a stage's columns, for the checks of the splits that read it. */
  private static void standIn(DuckDBConnection conn, String name, Fragments.Prepared p) throws SQLException {
    Map<String, String> columns = new LinkedHashMap<>();
    for (int i = 0; i < p.names().size(); i++) {
      columns.put(p.names().get(i), p.types().get(i));
    }
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(name) + " (" + ArrowSchemas.columnDefinitions(
          columns) + ")");
    }
  }

  private static void drop(DuckDBConnection conn, List<String> tables) {
    try (Statement s = conn.createStatement()) {
      for (String t : tables) {
        s.execute("DROP TABLE IF EXISTS temp.main." + ArrowSchemas.quoteIdentifier(t));
      }
    } catch (SQLException e) {
      LOG.warn("dropping the tables of stages failed: {}", e.getMessage());
    }
  }

  /** The stages in the order they run, and the split of the statement over their rows. */
  record Planned(List<Stage> stages, Fragments.Prepared rest) {
    /**
     * Runs every stage, keeping its rows in a temporary table named like it, then the rest's
     * fragments; returns the rest's final query. Empty when a stage has more than {@code maxBytes}
     * of rows to send (its tables are dropped again): the caller then gathers the statement.
     */
    Optional<String> run(DuckDBConnection conn, BufferAllocator allocator, long maxBytes) throws SQLException {
      Map<String, ByteString> rows = new LinkedHashMap<>();
      List<String> kept = new ArrayList<>();
      for (Stage s : stages) {
        String finalSql = Fragments.run(conn, s.prepared().withRows(rows), allocator);
        try (Statement st = conn.createStatement()) {
          st.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(s.name()) + " AS " + finalSql);
        }
        kept.add(s.name());
        Optional<ByteString> ipc = ipc(conn, s.name(), allocator, maxBytes);
        if (ipc.isEmpty()) {
          drop(conn, kept);
          return Optional.empty();
        }
        rows.put(s.name(), ipc.get());
      }
      return Optional.of(Fragments.run(conn, rest.withRows(rows), allocator));
    }

    /**
     * EXPLAIN ANALYZE: runs the stages and the rest as {@link #run} does; per stage a {@code stage}
     * row (its rows and bytes sent) before the rows of its split, then the rest's rows. When a
     * stage has more than {@code maxBytes} of rows, its row says so and the rows end there
     * ({@code complete} false: the statement is then gathered).
     */
    Analyzed analyze(DuckDBConnection conn, BufferAllocator allocator, double planMillis, long maxBytes)
        throws SQLException {
      List<Object[]> out = new ArrayList<>();
      Map<String, ByteString> rows = new LinkedHashMap<>();
      long start = System.nanoTime();
      for (Stage s : stages) {
        List<Object[]> own = Fragments.analyze(conn, s.prepared().withRows(rows), allocator, planMillis, s.name());
        Optional<ByteString> ipc = ipc(conn, s.name(), allocator, maxBytes);
        if (ipc.isEmpty()) {
          out.add(new Object[] {"stage " + s.name(), "this node", (Object) own.get(own.size() - 1)[2],
              Fragments.millisSince(start), "run first: " + s.prepared().summary() + "; its rows take more than "
              + maxBytes + " bytes of Arrow IPC (stage_rows_max_bytes): the statement runs gathered instead"});
          out.addAll(own.subList(1, own.size()));
          return new Analyzed(out, false);
        }
        rows.put(s.name(), ipc.get());
        out.add(new Object[] {"stage " + s.name(), "this node", (Object) own.get(own.size() - 1)[2],
            Fragments.millisSince(start), "run first: " + s.prepared().summary() + "; its rows kept here and sent "
            + "to the fragments that read them (" + ipc.get().size() + " bytes of Arrow IPC each)"});
        out.addAll(own.subList(1, own.size()));
      }
      out.addAll(Fragments.analyze(conn, rest.withRows(rows), allocator, planMillis));
      return new Analyzed(out, true);
    }
  }

  /** The rows of EXPLAIN ANALYZE, and whether the stages ran to the end (false: a stage had too many rows). */
  record Analyzed(List<Object[]> rows, boolean complete) {}

  /** The rows of a stage's table as one Arrow IPC stream; empty when it takes more than {@code maxBytes}. */
  static Optional<ByteString> ipc(DuckDBConnection conn, String table, BufferAllocator allocator,
      long maxBytes) throws SQLException {
    ByteString.Output out = ByteString.newOutput();
    try (Statement s = conn.createStatement();
        DuckDBResultSet rs = (DuckDBResultSet) s.executeQuery("SELECT * FROM temp.main."
            + ArrowSchemas.quoteIdentifier(table));
        ArrowReader reader = (ArrowReader) rs.arrowExportStream(allocator, BATCH_ROWS);
        ArrowStreamWriter writer = new ArrowStreamWriter(reader.getVectorSchemaRoot(), null, out)) {
      writer.start();
      // stops writing as soon as the bound is passed: a large stage is never held whole
      while (out.size() <= maxBytes && reader.loadNextBatch()) {
        writer.writeBatch();
      }
      if (out.size() <= maxBytes) {
        writer.end();
      }
      if (out.size() > maxBytes) {
        LOG.info("stage {} has more than {} bytes of rows to send (stage_rows_max_bytes): the statement runs "
            + "gathered instead", table, maxBytes);
        return Optional.empty();
      }
    } catch (IOException e) {
      throw new SQLException("the rows of stage " + table + " could not be written as Arrow IPC: " + e.getMessage(), e);
    }
    return Optional.of(out.toByteString());
  }
}
