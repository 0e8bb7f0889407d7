package io.quiver.server.query;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbErrors;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;

/**
 * {@code EXPLAIN} of a statement that reads distributed tables: what each shard is asked to run
 * (on which node) and what runs on this node over the results. A result set of (step, node, sql)
 * rows; DuckDB's own EXPLAIN stays available for statements over local tables.
 */
public final class DistributedExplain {
  private static final Pattern EXPLAIN = Pattern.compile("(?is)^\\s*EXPLAIN\\s+(?!ANALYZE\\b)(?!\\()(.*)$");
  private static final Pattern EXPLAIN_ANALYZE = Pattern.compile("(?is)^\\s*EXPLAIN\\s+ANALYZE\\s+(?!\\()(.*)$");
  private static final String ANALYZE_COLUMNS = "step VARCHAR, node VARCHAR, row_count BIGINT, milliseconds DOUBLE, "
      + "sql VARCHAR";

  private DistributedExplain() {}

  /**
   * When {@code sql} is {@code EXPLAIN <statement>} over tables of other nodes, fills a temporary
   * table with the distributed plan on {@code conn} and returns the query that reads it.
   */
  public static Optional<String> rewrite(DuckDBConnection conn, String sql, RemoteTables.Locator locator,
      BufferAllocator allocator) throws SQLException {
    Matcher a = EXPLAIN_ANALYZE.matcher(sql);
    if (a.matches()) {
      return analyze(conn, a.group(1).trim(), locator, allocator);
    }
    Matcher m = EXPLAIN.matcher(sql);
    if (!m.matches()) {
      return Optional.empty();
    }
    String inner = m.group(1).trim();
    if (!readsOtherNodes(conn, inner)) {
      return Optional.empty(); // DuckDB explains it, or reports the error
    }
    List<String[]> rows = plan(conn, inner, locator);
    if (rows.isEmpty()) {
      return Optional.empty();
    }
    String table = planTable(conn, "step VARCHAR, node VARCHAR, sql VARCHAR");
    fill(conn, table, rows);
    return Optional.of("SELECT step, node, sql FROM " + table + " ORDER BY rowid");
  }

  /** True when {@code sql} names a table DuckDB does not have here (one of other nodes). */
  private static boolean readsOtherNodes(DuckDBConnection conn, String sql) {
    try (PreparedStatement ps = conn.prepareStatement(sql)) {
      return false;
    } catch (SQLException e) {
      return RemoteTables.missingTable(e) != null;
    }
  }

  /** A new temporary table with {@code columns} for the rows of a plan. */
  private static String planTable(DuckDBConnection conn, String columns) throws SQLException {
    String table = "__quiver_explain_" + java.util.UUID.randomUUID().toString().replace('-', '_');
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE " + table + " (" + columns + ")");
    }
    return table;
  }

  private static void fill(DuckDBConnection conn, String table, List<? extends Object[]> rows) throws SQLException {
    if (rows.isEmpty()) {
      return;
    }
    String marks = String.join(", ", java.util.Collections.nCopies(rows.get(0).length, "?"));
    try (PreparedStatement insert = conn.prepareStatement("INSERT INTO " + table + " VALUES (" + marks + ")")) {
      for (Object[] r : rows) {
        for (int i = 0; i < r.length; i++) {
          insert.setObject(i + 1, r[i]);
        }
        insert.executeUpdate();
      }
    }
  }

  /**
   * {@code EXPLAIN ANALYZE <statement>} over tables of other nodes: runs it and returns (step, node,
   * row_count, milliseconds, sql) rows, one per fragment for a fragment plan, else one per table of
   * other nodes read ({@code fetch <table>}) and one for the gathered run. Only describes the result
   * when {@code allocator} is null (preparing, not running).
   */
  private static Optional<String> analyze(DuckDBConnection conn, String inner, RemoteTables.Locator locator,
      BufferAllocator allocator) throws SQLException {
    if (!readsOtherNodes(conn, inner)) {
      return Optional.empty(); // DuckDB's EXPLAIN ANALYZE, or its error
    }
    String table = planTable(conn, ANALYZE_COLUMNS);
    String select = "SELECT step, node, row_count, milliseconds, sql FROM " + table;
    if (allocator == null) {
      return Optional.of(select);
    }
    List<Object[]> rows;
    long start = System.nanoTime();
    Optional<Fragments.Prepared> split = locator.pushdown() ? Fragments.plan(conn, inner, locator) : Optional.empty();
    if (split.isEmpty() && locator.pushdown()) {
      Optional<CoordinatorRelations.Planned> relations = CoordinatorRelations.plan(conn, inner, locator);
      if (relations.isPresent()) {
        long ran = System.nanoTime();
        Optional<Map<String, com.google.protobuf.ByteString>> sent = relations.get().rewritten().materialize(conn,
            allocator, locator.stageRowsMaxBytes());
        if (sent.isPresent()) {
          rows = new ArrayList<>();
          for (CoordinatorRelations.Relation r : relations.get().rewritten().relations()) {
            rows.add(new Object[] {"relation " + r.name(), "this node", count(conn, r.name()), Fragments.millisSince(ran),
                r.call() + " ran here; its rows were sent whole to every fragment (" + sent.get().get(r.name()).size()
                + " bytes of Arrow IPC each)"});
          }
          rows.addAll(Fragments.analyze(conn, relations.get().split().withRows(sent.get()), allocator,
              Fragments.millisSince(start)));
          fill(conn, table, rows);
          return Optional.of(select + " ORDER BY rowid");
        }
        relations.get().rewritten().drop(conn);
      }
    }
    // as a statement runs: a split, else its aggregating CTEs first (in the gathered branch), else stages
    Optional<Stages.Planned> staged = split.isPresent() || !locator.pushdown() || CteSplits.plan(conn, inner,
        locator).isPresent() ? Optional.empty() : Stages.plan(conn, inner, locator);
    Stages.Analyzed stagesRun = staged.isEmpty() ? null : staged.get().analyze(conn, allocator,
        Fragments.millisSince(start), locator.stageRowsMaxBytes());
    if (split.isPresent()) {
      rows = Fragments.analyze(conn, split.get(), allocator, Fragments.millisSince(start));
    } else if (stagesRun != null && stagesRun.complete()) {
      rows = stagesRun.rows();
    } else {
      List<AutoCloseable> attachments = new ArrayList<>();
      long count = 0;
      rows = new ArrayList<>(stagesRun == null ? List.of() : stagesRun.rows()); // a stage too large: gathered
      try (PreparedStatement ps = RemoteTables.prepare(conn, inner, locator, allocator, true, attachments)) {
        double fetched = Fragments.millisSince(start);
        rows.addAll(cteRows(conn, fetched));
        rows.addAll(fetchedRows(conn, fetched));
        try (java.sql.ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            count++;
          }
        }
      } finally {
        QueryExecution.closeAll(attachments);
      }
      rows.add(new Object[] {"gather", "this node", count, Fragments.millisSince(start),
          "tables of other nodes fetched (with scan pushdown and key filters where possible), then run here: "
          + inner.replaceAll("\\s+", " ")});
    }
    fill(conn, table, rows);
    return Optional.of(select + " ORDER BY rowid");
  }

  private static long count(DuckDBConnection conn, String table) throws SQLException {
    try (Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT count(*) FROM temp.main."
        + ArrowSchemas.quoteIdentifier(table))) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * One {@code cte <name>} row per common table expression the statement ran first as a split of its
   * own ({@link CteSplits}): the rows it kept, and what ran.
   */
  private static List<Object[]> cteRows(DuckDBConnection conn, double millis) throws SQLException {
    List<Object[]> rows = new ArrayList<>();
    List<String[]> tables = new ArrayList<>();
    try (Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT table_name, comment FROM "
        + "duckdb_tables() WHERE temporary AND starts_with(comment, '" + CteSplits.COMMENT + "') ORDER BY table_oid")) {
      while (rs.next()) {
        tables.add(new String[] {rs.getString(1), rs.getString(2)});
      }
    }
    for (String[] t : tables) {
      try (Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT count(*) FROM "
          + "temp.main." + ArrowSchemas.quoteIdentifier(t[0]))) {
        rs.next();
        rows.add(new Object[] {"cte " + t[0], "this node", rs.getLong(1), millis, t[1]});
      }
    }
    return rows;
  }

  /**
   * One {@code fetch <table>} row per table of other nodes a gathered statement read: its rows as
   * the statement sees them (fetched from other nodes, or read from this node's shards, after
   * pushdown and key filters), and when all of them were there.
   */
  private static List<Object[]> fetchedRows(DuckDBConnection conn, double millis) throws SQLException {
    List<String> read = new ArrayList<>();
    try (Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT view_name FROM "
        + "duckdb_views() WHERE temporary AND NOT internal AND database_name = 'temp' AND schema_name = 'main' "
        + "AND NOT starts_with(view_name, '__quiver_') ORDER BY view_name")) {
      while (rs.next()) {
        read.add(rs.getString(1));
      }
    }
    List<Object[]> rows = new ArrayList<>();
    for (String t : read) {
      try (Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT count(*) FROM temp.main."
          + ArrowSchemas.quoteIdentifier(t))) {
        rs.next();
        rows.add(new Object[] {"fetch " + t, "this node", rs.getLong(1), millis,
            "rows read of " + t + " (after scan pushdown and key filters)"});
      }
    }
    return rows;
  }

  private static List<String[]> plan(DuckDBConnection conn, String inner,
      RemoteTables.Locator locator) {
    List<String[]> rows = new ArrayList<>();
    if (!locator.pushdown()) {
      rows.add(new String[] {"gather", "this node", "distributed planning is off on this node "
          + "(trex_db_set_distributed(false)): tables of other nodes are fetched whole, then this runs here: "
          + inner.replaceAll("\\s+", " ")});
      return rows;
    }
    Optional<Fragments.Prepared> split = Fragments.plan(conn, inner, locator);
    if (split.isPresent()) {
      rows.add(new String[] {"plan", "this node", split.get().summary()});
      rows.addAll(splitRows(split.get()));
      return rows;
    }
    Optional<CoordinatorRelations.Planned> relations = CoordinatorRelations.plan(conn, inner, locator);
    if (relations.isPresent()) {
      relations.get().rewritten().drop(conn);
      for (CoordinatorRelations.Relation r : relations.get().rewritten().relations()) {
        rows.add(new String[] {"relation " + r.name(), "this node", r.call() + " runs here; its rows are sent whole "
            + "to every fragment"});
      }
      rows.add(new String[] {"plan", "this node", relations.get().split().summary()});
      rows.addAll(splitRows(relations.get().split()));
      return rows;
    }
    Optional<CteSplits.Planned> ctes = CteSplits.plan(conn, inner, locator);
    if (ctes.isPresent()) {
      for (CteSplits.Split s : ctes.get().splits()) {
        rows.add(new String[] {"cte " + s.cte().name(), "this node", "run first as a split of its own, its rows kept "
            + "in a temporary table " + ArrowSchemas.quoteIdentifier(s.cte().name()) + " that the rest of the "
            + "statement reads: " + s.prepared().summary()});
        rows.addAll(splitRows(s.prepared()));
      }
      try {
        ctes.get().standIns(conn);
      } catch (SQLException e) {
        throw DuckDbErrors.translate(e);
      }
      String rest = ctes.get().rest();
      if (readsOtherNodes(conn, rest)) {
        rows.addAll(plan(conn, rest, locator));
      } else {
        rows.add(new String[] {"final", "this node", "runs here over the rows of the common table expressions above "
            + "(and this node's tables): " + rest.replaceAll("\\s+", " ")});
      }
      return rows;
    }
    Optional<Stages.Planned> staged = Stages.plan(conn, inner, locator);
    if (staged.isPresent()) {
      for (Stages.Stage s : staged.get().stages()) {
        rows.add(new String[] {"stage " + s.name(), "this node", "run first as a split of its own, its rows kept "
            + "here and sent whole to the fragments that read " + s.name() + ": " + s.prepared().summary()});
        rows.addAll(splitRows(s.prepared()));
      }
      rows.add(new String[] {"plan", "this node", staged.get().rest().summary() + "; it reads the rows of "
          + staged.get().stages().size() + " stage(s) above"});
      rows.addAll(splitRows(staged.get().rest()));
      return rows;
    }
    boolean[] reused = new boolean[1];
    Map<String, ScanPushdown.Fetch> fetches = ScanPushdown.analyze(conn, inner, locator, reused);
    for (Map.Entry<String, ScanPushdown.Fetch> f : fetches.entrySet()) {
      String where = f.getValue().where(k -> Optional.of(k.describe()));
      for (RemoteTables.Part p : locator.partsOf(f.getKey()).orElse(List.of())) {
        rows.add(new String[] {"scan " + f.getKey(), node(p), "SELECT " + f.getValue().select() + " FROM "
            + ArrowSchemas.quoteIdentifier(p.table()) + (where == null ? "" : " WHERE " + where)});
      }
    }
    Fragments.calciteDeclined(inner, locator).ifPresent(reason -> rows.add(new String[] {"not split", "this node",
        "the Calcite planner declined: " + reason + "; the text planner found no split it can prove correct"}));
    String prefix = fetches.isEmpty() ? "tables of other nodes are fetched whole (no pushdown for this statement), "
        + "then this runs here: " : "joins, aggregates and sorts run here over the fetched rows"
        + (reused[0] ? " (the fetch analysis reused from an earlier run of this statement)" : "") + ": ";
    rows.add(new String[] {"gather", "this node", prefix + inner.replaceAll("\\s+", " ")});
    return rows;
  }

  /** A split's shuffle, broadcast, fragment and final rows. */
  private static List<String[]> splitRows(Fragments.Prepared split) {
    List<String[]> rows = new ArrayList<>();
    split.sends().forEach(send -> rows.add(new String[] {"shuffle", send.endpoint(), send.describe()}));
    rows.addAll(broadcastRows(split));
    split.fragments().forEach((endpoint, sql) -> rows.add(new String[] {"fragment", endpoint, sql}));
    rows.add(new String[] {"final", "this node", split.finalSql("<rows of the " + split.fragments().size()
        + " fragment(s)>")});
    return rows;
  }

  /**
   * One {@code broadcast <table>} row per table the fragments pull whole from its shards (those a
   * fragment's node holds a copy of are read in place instead): the nodes whose fragments pull it,
   * and with which columns and condition.
   */
  private static List<String[]> broadcastRows(Fragments.Prepared split) {
    Map<String, List<String>> pulledBy = new java.util.TreeMap<>();
    Map<String, ScanPushdown.Fetch> fetchOf = new java.util.HashMap<>();
    split.inputs().forEach((endpoint, in) -> in.fetches().forEach((table, fetch) -> {
      if (!table.startsWith(io.quiver.coordinator.plan.FragmentPlanner.Plan.PULL_PREFIX)
          && !table.startsWith(io.quiver.coordinator.plan.CalcitePlanner.STAGE_PREFIX)
          && !table.startsWith(CoordinatorRelations.PREFIX)) { // rows sent with the fragment, not pulled
        pulledBy.computeIfAbsent(table, t -> new ArrayList<>()).add(endpoint);
        fetchOf.put(table, fetch);
      }
    }));
    List<String[]> rows = new ArrayList<>();
    pulledBy.forEach((table, endpoints) -> {
      String where = fetchOf.get(table).where();
      rows.add(new String[] {"broadcast " + table, endpoints.size() == split.fragments().size() ? "every fragment"
          : String.join(", ", endpoints), "SELECT " + fetchOf.get(table).select() + " FROM "
          + ArrowSchemas.quoteIdentifier(table) + (where == null ? "" : " WHERE " + where)
          + " (each fragment pulls these rows from the shards or the node that hold them)"});
    });
    return rows;
  }

  private static String node(RemoteTables.Part p) {
    return p.endpoint() == null ? "this node" : p.endpoint();
  }
}
