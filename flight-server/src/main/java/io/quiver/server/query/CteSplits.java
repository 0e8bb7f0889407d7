package io.quiver.server.query;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.coordinator.plan.FragmentPlanner;
import io.quiver.coordinator.plan.WithClause;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;

/**
 * Common table expressions that aggregate over distributed tables, run first as splits of their
 * own: a statement {@code WITH name AS (<query>) <rest>} that cannot be split as a whole (TPC-H Q15)
 * has each such CTE run as fragments on the data nodes ({@link Fragments}), its combined rows kept
 * in a temporary table {@code name} on this statement's connection, and then only {@code <rest>}
 * (with the other CTEs) is planned, reading that table. Only CTEs whose split aggregates are run
 * this way (their rows are fewer than what they read); a CTE that passes rows through stays in the
 * statement, where scan pushdown fetches only the rows and columns the whole statement needs.
 */
final class CteSplits {
  /** The comment of a CTE's temporary table; {@code EXPLAIN ANALYZE} lists the tables that carry it. */
  static final String COMMENT = "quiver: common table expression split and run first";

  private CteSplits() {}

  /** One CTE that splits: its name, columns and types as the statement sees them, and its split. */
  record Split(WithClause.Cte cte, List<String> names, List<String> types, Fragments.Prepared prepared) {}

  /** The CTEs of {@code sql} that split and aggregate, with the statement without them; empty when none. */
  static Optional<Planned> plan(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    Optional<WithClause> with = WithClause.parse(sql);
    if (with.isEmpty()) {
      return Optional.empty();
    }
    List<Split> splits = new ArrayList<>();
    Set<String> names = new LinkedHashSet<>();
    for (WithClause.Cte c : with.get().ctes()) {
      if (namesItself(c)) {
        continue; // DuckDB refuses the statement (a circular reference); it must still refuse it
      }
      Optional<Fragments.Prepared> split = Fragments.plan(conn, c.body(), locator);
      if (split.isEmpty() || split.get().plan().combine() == FragmentPlanner.Combine.CONCATENATE) {
        continue;
      }
      List<String> columns = c.columns() == null ? split.get().names() : columnList(c.columns());
      if (columns.size() != split.get().names().size()) {
        continue; // DuckDB reports the mismatch when the statement runs
      }
      splits.add(new Split(c, columns, split.get().types(), split.get()));
      names.add(c.name());
    }
    return splits.isEmpty() ? Optional.empty() : Optional.of(new Planned(splits, with.get().without(names)));
  }

  /** The splits to run first, and the statement that reads their tables. */
  record Planned(List<Split> splits, String rest) {
    /**
     * Runs each split and keeps its rows in a temporary table named like its CTE (with {@link
     * #COMMENT} and what ran); returns {@link #rest}.
     */
    String run(DuckDBConnection conn, BufferAllocator allocator) throws SQLException {
      for (Split s : splits) {
        long start = System.nanoTime();
        String rows = Fragments.run(conn, s.prepared(), allocator);
        String table = "temp.main." + ArrowSchemas.quoteIdentifier(s.cte().name());
        try (Statement st = conn.createStatement()) {
          st.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(s.cte().name()) + " AS "
              + (s.cte().columns() == null ? rows : "SELECT * FROM (" + rows + ") AS __quiver_cte "
              + s.cte().columns()));
          st.execute("COMMENT ON TABLE " + table + " IS '" + (COMMENT + " (" + Fragments.millisSince(start) + " ms): "
              + s.prepared().summary()).replace("'", "''") + "'");
        }
      }
      return rest;
    }

    /** Empty temporary tables named like the CTEs, with their columns: to plan {@link #rest} without running. */
    void standIns(DuckDBConnection conn) throws SQLException {
      try (Statement st = conn.createStatement()) {
        for (Split s : splits) {
          List<String> defs = new ArrayList<>();
          for (int i = 0; i < s.names().size(); i++) {
            defs.add(ArrowSchemas.quoteIdentifier(s.names().get(i)) + " " + s.types().get(i));
          }
          st.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(s.cte().name()) + " (" + String.join(", ",
              defs) + ")");
        }
      }
    }
  }

  /** True when the CTE's body names the CTE itself (as a table, say: {@code WITH t AS (SELECT ... FROM t)}). */
  private static boolean namesItself(WithClause.Cte c) {
    return io.quiver.coordinator.write.SqlTokens.tokenize(c.body()).stream().anyMatch(t -> t.isIdentifier()
        && t.identifier().equals(c.name()));
  }

  /** The names of a column list {@code (a, "B c")}. */
  private static List<String> columnList(String list) {
    List<String> names = new ArrayList<>();
    for (io.quiver.coordinator.write.SqlTokens.Token t : io.quiver.coordinator.write.SqlTokens.tokenize(list)) {
      if (t.isIdentifier()) {
        names.add(t.identifier());
      }
    }
    return names;
  }
}
