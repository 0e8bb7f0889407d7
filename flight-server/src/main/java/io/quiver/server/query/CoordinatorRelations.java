package io.quiver.server.query;

import com.google.protobuf.ByteString;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.coordinator.write.SqlTokens;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Table functions in a statement over distributed tables: {@code read_parquet(...)},
 * {@code read_csv(...)}, {@code trex_db_query('...')}, {@code trex_db_partitions()}, ... called
 * right after {@code FROM} or {@code JOIN}. Each is a relation that only this node can compute
 * (its files, its view of the cluster). The statement is planned with each call replaced by a
 * table {@code __quiver_rel_<n>} that the planners place like a replicated table; when it splits,
 * the call runs here once, its rows are kept in that temporary table and sent whole to every
 * fragment as Arrow IPC, as a stage's rows are ({@link Stages}). A call that cannot run on its
 * own (a lateral argument), or a statement that does not split, keeps the statement as it is.
 */
final class CoordinatorRelations {
  private static final Logger LOG = LoggerFactory.getLogger(CoordinatorRelations.class);
  static final String PREFIX = "__quiver_rel_";
  /** The co-location group of a relation's layout: no shards, rows sent with the fragments. */
  static final String GROUP = "coordinator relation";

  private CoordinatorRelations() {}

  /** One call: the table it becomes, the call's text and the DuckDB columns of its rows. */
  record Relation(String name, String call, Map<String, String> columns) {}

  /** The statement with its calls replaced, and the locator that knows their tables. */
  record Rewritten(String sql, List<Relation> relations, RemoteTables.Locator locator) {
    /**
     * Runs every call into its table (replacing the empty stand-in) and returns the rows to send
     * by name; empty when one has more than {@code maxBytes} of Arrow IPC.
     */
    Optional<Map<String, ByteString>> materialize(DuckDBConnection conn, BufferAllocator allocator, long maxBytes)
        throws SQLException {
      Map<String, ByteString> rows = new LinkedHashMap<>();
      for (Relation r : relations) {
        try (Statement s = conn.createStatement()) {
          s.execute("DROP TABLE IF EXISTS temp.main." + ArrowSchemas.quoteIdentifier(r.name()));
          s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(r.name()) + " AS SELECT * FROM " + r.call());
        }
        Optional<ByteString> ipc = Stages.ipc(conn, r.name(), allocator, maxBytes);
        if (ipc.isEmpty()) {
          return Optional.empty();
        }
        rows.put(r.name(), ipc.get());
      }
      return Optional.of(rows);
    }

    /** Drops the relations' tables (stand-ins or rows). */
    void drop(DuckDBConnection conn) {
      try (Statement s = conn.createStatement()) {
        for (Relation r : relations) {
          s.execute("DROP TABLE IF EXISTS temp.main." + ArrowSchemas.quoteIdentifier(r.name()));
        }
      } catch (SQLException e) {
        LOG.warn("dropping the tables of table function calls failed: {}", e.getMessage());
      }
    }
  }

  /**
   * {@code sql} with each table function called right after FROM or JOIN replaced by a relation,
   * each with an empty stand-in table on {@code conn} (for planning); empty when there is none.
   */
  static Optional<Rewritten> rewrite(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    Optional<List<SqlTokens.Token>> statement = SqlTokens.statement(sql);
    if (statement.isEmpty()) {
      return Optional.empty();
    }
    List<SqlTokens.Token> t = statement.get();
    StringBuilder out = new StringBuilder();
    List<Relation> relations = new ArrayList<>();
    int at = 0;
    for (int i = 1; i + 1 < t.size(); i++) {
      if (!(t.get(i - 1).is("FROM") || t.get(i - 1).is("JOIN")) || t.get(i).kind() != SqlTokens.Kind.WORD
          || !t.get(i + 1).isSymbol("(")) {
        continue;
      }
      int close = SqlTokens.matching(t, i + 1);
      if (close < 0) {
        return Optional.empty();
      }
      String call = sql.substring(t.get(i).start(), t.get(close).end());
      Optional<Map<String, String>> columns = columnsOf(conn, t.get(i).text(), call);
      if (columns.isEmpty()) {
        continue;
      }
      String name = PREFIX + (relations.size() + 1);
      relations.add(new Relation(name, call, columns.get()));
      out.append(sql, at, t.get(i).start()).append(ArrowSchemas.quoteIdentifier(name));
      at = t.get(close).end();
      i = close;
    }
    if (relations.isEmpty()) {
      return Optional.empty();
    }
    out.append(sql, at, sql.length());
    try (Statement s = conn.createStatement()) {
      for (Relation r : relations) {
        s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(r.name()) + " (" + ArrowSchemas
            .columnDefinitions(r.columns()) + ")");
      }
    } catch (SQLException e) {
      LOG.debug("no stand-ins for table function calls: {}", e.toString());
      return Optional.empty();
    }
    Map<String, RemoteTables.Layout> layouts = new LinkedHashMap<>();
    for (Relation r : relations) {
      layouts.put(r.name(), new RemoteTables.Layout(r.name(), r.columns(), null, GROUP, 0, false,
          java.util.function.UnaryOperator.identity(), List.of()));
    }
    RemoteTables.Locator with = new RemoteTables.Delegating(locator) {
      @Override
      public Optional<RemoteTables.Layout> layout(String table) {
        RemoteTables.Layout l = layouts.get(table.toLowerCase(Locale.ROOT));
        return l != null ? Optional.of(l) : locator.layout(table);
      }
    };
    return Optional.of(new Rewritten(out.toString(), List.copyOf(relations), with));
  }

  /**
   * Plans {@code sql} with its table function calls as relations and, when it splits, runs the
   * calls here and then the split with their rows; returns the final query. Empty (nothing left
   * behind) when there is no call, the statement does not split, or a call's rows take more than
   * {@code stage_rows_max_bytes}.
   */
  static Optional<String> run(DuckDBConnection conn, String sql, RemoteTables.Locator locator,
      BufferAllocator allocator) throws SQLException {
    Optional<Planned> planned = plan(conn, sql, locator);
    if (planned.isEmpty()) {
      return Optional.empty();
    }
    Optional<Map<String, ByteString>> rows = planned.get().rewritten().materialize(conn, allocator,
        locator.stageRowsMaxBytes());
    if (rows.isEmpty()) {
      planned.get().rewritten().drop(conn);
      return Optional.empty();
    }
    return Optional.of(Fragments.run(conn, planned.get().split().withRows(rows.get()), allocator));
  }

  /** The rewritten statement and its split (over the relations' empty stand-ins, still on the connection). */
  record Planned(Rewritten rewritten, Fragments.Prepared split) {}

  /** {@code sql} rewritten and split; empty (stand-ins dropped) when it has no call or does not split. */
  static Optional<Planned> plan(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    Optional<Rewritten> r = rewrite(conn, sql, locator);
    if (r.isEmpty()) {
      return Optional.empty();
    }
    Optional<Fragments.Prepared> split = Fragments.plan(conn, r.get().sql(), r.get().locator());
    if (split.isEmpty()) {
      r.get().drop(conn);
      return Optional.empty();
    }
    return Optional.of(new Planned(r.get(), split.get()));
  }

  /** The columns of a table function call's rows, when {@code name} is a table function and the call runs alone. */
  private static Optional<Map<String, String>> columnsOf(DuckDBConnection conn, String name, String call) {
    try (Statement s = conn.createStatement()) {
      try (ResultSet rs = s.executeQuery("SELECT count(*) FROM duckdb_functions() WHERE function_type = 'table' "
          + "AND function_name = '" + name.toLowerCase(Locale.ROOT).replace("'", "''") + "'")) {
        rs.next();
        if (rs.getLong(1) == 0) {
          return Optional.empty();
        }
      }
      Map<String, String> columns = new LinkedHashMap<>();
      try (ResultSet rs = s.executeQuery("DESCRIBE SELECT * FROM " + call)) {
        while (rs.next()) {
          columns.put(rs.getString(1), rs.getString(2));
        }
      }
      return Optional.of(columns);
    } catch (SQLException e) {
      LOG.debug("table function call {} stays in its statement: {}", call, e.toString());
      return Optional.empty();
    }
  }
}
