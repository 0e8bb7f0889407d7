package io.quiver.server.query;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.catalog.engine.ArrowSchemas;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Projection and filter pushdown for tables read from other nodes, decided by DuckDB's own
 * optimizer: the statement is planned over empty stand-in tables with the real columns (with
 * statistics propagation off, so that emptiness is not exploited), and every scan of a stand-in
 * in the plan tells which columns it reads and which filters DuckDB applies right at it. A table
 * is then fetched from its shards as {@code SELECT <columns of all its scans> FROM shard WHERE
 * <filters of scan 1> OR <filters of scan 2> ...} (no filter as soon as one scan has none). A
 * filter that does not read back as valid SQL is left out, and any surprise turns pushdown off for
 * the statement: fewer rows are never fetched than the statement needs.
 */
public final class ScanPushdown {
  private static final Logger LOG = LoggerFactory.getLogger(ScanPushdown.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_TABLES = 8;

  /**
   * How to fetch one table: a select list and an optional WHERE condition ({@code where}, null = all
   * rows). When some scan of the table is reduced by a key filter, {@code scans} holds every scan's
   * conditions and key filters, and the WHERE is only known once the keys are: {@link #where(Function)}.
   * The {@code sampled} columns (not in the select list) travel as one value that passes the WHERE,
   * the same in every row: the statement reads them only in its conditions on this one table, which
   * every fetched row already passed (TPC-H Q13's {@code o_comment NOT LIKE ...}: 1.5 million comments
   * stay where they are).
   */
  public record Fetch(String select, String where, List<ScanFilter> scans, List<String> sampled) {
    public Fetch(String select, String where) {
      this(select, where, List.of(), List.of());
    }

    public Fetch(String select, String where, List<ScanFilter> scans) {
      this(select, where, scans, List.of());
    }

    /** True when some scan of the table is reduced by the keys of another table. */
    public boolean hasKeyFilters() {
      return scans.stream().anyMatch(s -> !s.keys().isEmpty());
    }

    /** The tables of other nodes whose fetched rows decide a key filter of this fetch. */
    public Set<String> remoteKeySources() {
      Set<String> out = new LinkedHashSet<>();
      scans.forEach(s -> s.keys().stream().filter(k -> k.localTable() == null).forEach(k -> out.add(k.source())));
      return out;
    }

    /**
     * The WHERE condition once every key filter is resolved by {@code keys} (a condition, or empty
     * when the filter cannot be used: too many keys, or its source is not selective); null = all rows.
     */
    public String where(Function<KeyFilter, Optional<String>> keys) {
      if (!hasKeyFilters()) {
        return where;
      }
      Set<String> perScan = new LinkedHashSet<>(); // scans with the same conditions read the same rows
      Map<KeyFilter, Optional<String>> resolved = new java.util.HashMap<>();
      for (ScanFilter s : scans) {
        List<String> terms = new ArrayList<>(s.conditions());
        for (KeyFilter k : s.keys()) {
          resolved.computeIfAbsent(k, keys).ifPresent(c -> terms.add("(" + c + ")"));
        }
        if (terms.isEmpty()) {
          return null; // one scan reads every row
        }
        perScan.add("(" + String.join(" AND ", terms) + ")");
      }
      return String.join(" OR ", perScan);
    }

    /** This fetch with only the key filters {@code keep} accepts. */
    Fetch keeping(java.util.function.Predicate<KeyFilter> keep) {
      List<ScanFilter> kept = new ArrayList<>();
      for (ScanFilter s : scans) {
        kept.add(new ScanFilter(s.conditions(), s.keys().stream().filter(keep).toList()));
      }
      Fetch out = new Fetch(select, where, kept, sampled);
      return out.hasKeyFilters() ? out : new Fetch(select, where, List.of(), sampled);
    }

    /** True when the fetch reads fewer than all rows once its key filters are resolved (if they are). */
    boolean selective() {
      return where(k -> Optional.of("TRUE")) != null;
    }
  }

  /** One scan of a fetched table: the conditions DuckDB applies at it, and its key filters. */
  public record ScanFilter(List<String> conditions, List<KeyFilter> keys) {}

  /**
   * A key filter (semi-join reduction): the scan's rows matter only when {@code column} (of type
   * {@code columnType}) equals a value of {@code sourceColumn} in the rows of {@code source} the
   * statement reads. The source is a table of this node ({@code localTable}, the qualified name, read
   * with {@code localWhere}) or another table of other nodes, fetched first ({@code localTable} null).
   */
  public record KeyFilter(String column, String columnType, String source, String sourceColumn, String localTable,
      String localWhere) {
    /** How EXPLAIN shows the filter before its keys are known. */
    public String describe() {
      return ArrowSchemas.quoteIdentifier(column) + " IN (<keys of " + source + "." + sourceColumn
          + ", found when the statement runs>)";
    }
  }

  /** At most this many distinct keys make a key filter; a larger set reduces too little for its size. */
  static final int MAX_KEYS = 5_000;

  private ScanPushdown() {}

  /** An analysis kept for the next run of its statement: the tables it stood in for (their columns), and its result. */
  private record Analysis(Map<String, Map<String, String>> standIns, Map<String, Fetch> fetches) {}

  private static final int ANALYSES_KEPT = 256;
  private static final Map<String, Analysis> ANALYSES = Lru.of(ANALYSES_KEPT);

  /**
   * Per table the statement reads from other nodes, how to fetch it; empty when pushdown is off for
   * it. The analysis (stand-in tables, DuckDB's plan, names and conditions checked one by one: 10-20
   * ms) is kept for the next run of the same statement in the same schema, while the tables it
   * stood in for keep their columns and this node runs no statement that is not a query (one may
   * have changed a table of this node a key filter reads).
   */
  static Map<String, Fetch> analyze(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    return analyze(conn, sql, locator, new boolean[1]);
  }

  /** {@link #analyze(DuckDBConnection, String, RemoteTables.Locator)}; {@code reused[0]} tells whether it was kept. */
  static Map<String, Fetch> analyze(DuckDBConnection conn, String sql, RemoteTables.Locator locator,
      boolean[] reused) {
    String key;
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(
        "SELECT current_database() || '.' || current_schema()")) {
      rs.next();
      key = sql + '\u0000' + rs.getString(1) + '\u0000' + QueryExecution.LOCAL_CHANGES.get();
    } catch (SQLException e) {
      key = null;
    }
    Analysis cached = key == null ? null : ANALYSES.get(key);
    if (cached != null && cached.standIns().entrySet().stream().allMatch(t -> locator.partsOf(t.getKey())
        .filter(parts -> !parts.isEmpty() && t.getValue().equals(parts.get(0).columns())).isPresent())) {
      reused[0] = true;
      return cached.fetches();
    }
    Map<String, Map<String, String>> standIns = new LinkedHashMap<>();
    Map<String, Fetch> fetches = analyze(conn, sql, locator, standIns);
    if (key != null && !fetches.isEmpty()) {
      ANALYSES.put(key, new Analysis(Map.copyOf(standIns), java.util.Collections.unmodifiableMap(
          new LinkedHashMap<>(fetches))));
    }
    return fetches;
  }

  private static Map<String, Fetch> analyze(DuckDBConnection conn, String sql, RemoteTables.Locator locator,
      Map<String, Map<String, String>> standIns) {
    try {
      for (int i = 0; ; i++) {
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
          if (ps.getParameterMetaData().getParameterCount() > 0) {
            return Map.of(); // EXPLAIN needs values
          }
          break;
        } catch (SQLException e) {
          String table = RemoteTables.missingTable(e);
          if (i >= MAX_TABLES || table == null) {
            return Map.of();
          }
          Optional<List<RemoteTables.Part>> parts = locator.partsOf(table);
          if (parts.isEmpty() || parts.get().isEmpty() || parts.get().get(0).columns() == null) {
            return Map.of();
          }
          Map<String, String> columns = parts.get().get(0).columns();
          try (Statement s = conn.createStatement()) {
            s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(table) + " ("
                + ArrowSchemas.columnDefinitions(columns) + ")");
          }
          standIns.put(table, columns);
        }
      }
      if (standIns.isEmpty()) {
        return Map.of();
      }
      return overStandIns(conn, sql, standIns, true);
    } catch (SQLException | RuntimeException e) {
      LOG.debug("no scan pushdown for this statement: {}", e.toString());
      return Map.of();
    } finally {
      try (Statement s = conn.createStatement()) {
        for (String table : standIns.keySet()) {
          s.execute("DROP TABLE IF EXISTS temp.main." + ArrowSchemas.quoteIdentifier(table));
        }
      } catch (SQLException e) {
        LOG.warn("dropping stand-in tables failed: {}", e.getMessage());
      }
    }
  }

  /**
   * How to fetch each of {@code standIns} (table → columns), which exist on {@code conn} as empty
   * tables, for {@code sql}; empty when the plan cannot be read. With {@code keyFilters}, a scan
   * whose rows only matter when they join a selective table gets a key filter (see
   * {@link #keyFilters}).
   */
  static Map<String, Fetch> overStandIns(DuckDBConnection conn, String sql, Map<String, Map<String, String>> standIns,
      boolean keyFilters) {
    return overStandIns(conn, sql, standIns, keyFilters, null);
  }

  /**
   * As {@link #overStandIns(DuckDBConnection, String, Map, boolean)} for the fetches of a fragment
   * ({@code keyFilters} false): a scan whose rows matter only when they join a selective table that
   * every node serving the fetch holds whole ({@code servedInPlace}: table name → the relation that
   * reads it there, e.g. its replicated shard) is fetched with the semi-join as a subquery the
   * serving node evaluates over its own copy, {@code c IN (SELECT x FROM <relation> WHERE ...)}: no
   * keys travel, and there is no cap on their number. TPC-H Q9 pulls the partsupp rows of the 5% of
   * parts whose name it names, not all 800,000.
   */
  static Map<String, Fetch> overStandIns(DuckDBConnection conn, String sql, Map<String, Map<String, String>> standIns,
      boolean keyFilters, Map<String, String> servedInPlace) {
    try {
      JsonNode plan;
      try (Statement s = conn.createStatement()) {
        s.execute("SET disabled_optimizers = 'statistics_propagation'");
        try (ResultSet rs = s.executeQuery("EXPLAIN (FORMAT json) " + sql)) {
          rs.next();
          plan = JSON.readTree(rs.getString(2));
        } finally {
          s.execute("RESET disabled_optimizers");
        }
      }
      Map<String, List<Scan>> scans = new LinkedHashMap<>();
      Map<String, List<Scan>> localScans = new LinkedHashMap<>();
      boolean[] onlyTableLeaves = {true};
      Set<String> standInNames = new java.util.HashSet<>();
      standIns.keySet().forEach(t -> standInNames.add(t.toLowerCase(Locale.ROOT)));
      collect(plan, new ArrayList<>(), standInNames, scans, localScans, onlyTableLeaves);
      // a column the statement names is fetched even where DuckDB's plan does not read it (a derived
      // table's column nothing uses, say): the statement is bound again over the fetched columns
      Set<String> named = io.quiver.coordinator.scan.ColumnUse.identifiers(sql).map(ids -> {
        Set<String> lower = new java.util.HashSet<>();
        ids.forEach(id -> lower.add(id.toLowerCase(Locale.ROOT)));
        return lower;
      }).orElse(null);
      Map<String, Fetch> read = new LinkedHashMap<>(); // with each scan's valid conditions, for key filters
      Map<String, Fetch> out = new LinkedHashMap<>();
      for (Map.Entry<String, Map<String, String>> t : standIns.entrySet()) {
        List<Scan> of = scans.getOrDefault(t.getKey().toLowerCase(Locale.ROOT), List.of());
        if (of.isEmpty()) {
          continue;
        }
        // sampled columns only where this node pulls (a fragment's pulls carry select and where alone)
        Fetch f = fetch(conn, "temp.main." + ArrowSchemas.quoteIdentifier(t.getKey()), t.getValue(), of, named,
            keyFilters);
        read.put(t.getKey(), f);
        out.put(t.getKey(), new Fetch(f.select(), f.where(), List.of(), f.sampled()));
      }
      if (keyFilters && onlyTableLeaves[0]) {
        return keyFilters(conn, sql, standIns, scans, localScans, read, out);
      }
      if (servedInPlace != null && !servedInPlace.isEmpty() && onlyTableLeaves[0]) {
        return servedKeyFilters(keyFilters(conn, sql, standIns, scans, localScans, read, out), servedInPlace);
      }
      return out;
    } catch (SQLException | java.io.IOException | RuntimeException e) {
      LOG.debug("no scan pushdown for this statement: {}", e.toString());
      return Map.of();
    }
  }

  /**
   * The fetches with their key filters over a table in {@code servedInPlace} resolved to a subquery
   * over that table's copy on the serving node; every other key filter goes unused.
   */
  private static Map<String, Fetch> servedKeyFilters(Map<String, Fetch> fetches, Map<String, String> servedInPlace) {
    Map<String, String> relations = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    relations.putAll(servedInPlace);
    Map<String, Fetch> out = new LinkedHashMap<>();
    fetches.forEach((table, f) -> out.put(table, !f.hasKeyFilters() ? f : new Fetch(f.select(), f.where(k -> {
      String relation = k.localTable() == null ? null : relations.get(k.source());
      if (relation == null) {
        return Optional.empty();
      }
      String x = ArrowSchemas.quoteIdentifier(k.sourceColumn());
      return Optional.of(ArrowSchemas.quoteIdentifier(k.column()) + " IN (SELECT " + x + " FROM " + relation + " AS "
          + ArrowSchemas.quoteIdentifier(k.source()) + " WHERE " + x + " IS NOT NULL AND (" + k.localWhere() + "))");
    }))));
    return out;
  }

  /**
   * One scan in the plan: the columns it reads, the conditions DuckDB applies at it, and the
   * equality conditions ({@code left = right}, column names) of the first join above it when every
   * row of the scan that finds no partner there is dropped by that join.
   */
  private record Scan(Set<String> columns, boolean allColumns, List<String> conditions, List<String[]> joinKeys) {}

  private static final String DIRECT = "direct";
  private static final String ABOVE = "above";

  /** Operators that pass rows and columns through unchanged except for dropping rows or columns. */
  private static final Set<String> PASS_THROUGH = Set.of("PROJECTION", "FILTER");
  /** Leaves whose columns come from tables (or from other parts of the same plan). */
  private static final Set<String> TABLE_LEAVES = Set.of("SEQ_SCAN", "CTE_SCAN", "DELIM_SCAN", "DUMMY_SCAN",
      "EMPTY_RESULT");
  private static final java.util.regex.Pattern EQUALITY = java.util.regex.Pattern.compile(
      "^\\(?\\s*\"?([A-Za-z_][A-Za-z0-9_]*|#[0-9]+)\"?\\s*=\\s*\"?([A-Za-z_][A-Za-z0-9_]*|#[0-9]+)\"?\\s*\\)?$");
  private static final java.util.regex.Pattern IDENTIFIER = java.util.regex.Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  /**
   * The column name an operand of a join condition stands for: a name as it is, {@code #k} the k-th
   * output column of {@code child} when that is a scan's or a projection's plain column; else null.
   */
  private static String outputName(String operand, JsonNode child) {
    if (!operand.startsWith("#")) {
      return operand.toLowerCase(Locale.ROOT);
    }
    int k = Integer.parseInt(operand.substring(1));
    String op = child.path("name").asText();
    if (!"SEQ_SCAN".equals(op) && !"PROJECTION".equals(op)) {
      return null;
    }
    JsonNode projections = child.path("extra_info").path("Projections");
    if (projections.isMissingNode()) {
      return null;
    }
    JsonNode list = projections.isArray() ? projections : JSON.createArrayNode().add(projections);
    if (k >= list.size()) {
      return null;
    }
    String column = list.get(k).asText().replace("\"", "").trim();
    if (column.startsWith("#") && "PROJECTION".equals(op) && column.substring(1).matches("[0-9]+")) {
      return outputName(column, child.path("children").path(0));
    }
    return IDENTIFIER.matcher(column).matches() ? column.toLowerCase(Locale.ROOT) : null;
  }

  private static void collect(JsonNode node, List<JsonNode> ancestors, Set<String> standIns, Map<String, List<Scan>> scans,
      Map<String, List<Scan>> localScans, boolean[] onlyTableLeaves) {
    if (node.isArray()) {
      node.forEach(n -> collect(n, ancestors, standIns, scans, localScans, onlyTableLeaves));
      return;
    }
    String op = node.path("name").asText();
    if (node.path("children").isEmpty() && !TABLE_LEAVES.contains(op)) {
      onlyTableLeaves[0] = false; // a table function, VALUES list or the like: its columns are not traced
    }
    if ("SEQ_SCAN".equals(op)) {
      JsonNode info = node.path("extra_info");
      String table = info.path("Table").asText();
      String name = table.substring(table.lastIndexOf('.') + 1).replace("\"", "").toLowerCase(Locale.ROOT);
      // a stand-in of a table of other nodes; any other temporary table is this node's
      boolean standIn = table.startsWith("\"temp\".") && standIns.contains(name);
      Set<String> columns = new LinkedHashSet<>();
      boolean all = false;
      JsonNode projections = info.path("Projections");
      if (projections.isMissingNode()) {
        all = true;
      }
      for (JsonNode p : projections.isArray() ? projections : JSON.createArrayNode().add(projections)) {
        columns.add(p.asText().replace("\"", "").toLowerCase(Locale.ROOT));
      }
      List<String> conditions = new ArrayList<>();
      JsonNode filters = info.path("Filters");
      for (JsonNode f : filters.isArray() ? filters : filters.isMissingNode() ? JSON.createArrayNode()
          : JSON.createArrayNode().add(filters)) {
        String text = f.asText().trim();
        if (text.startsWith("optional:")) {
          // an IN list DuckDB made from the statement's own OR/IN condition, kept optional at the scan
          text = text.substring("optional:".length()).trim();
        }
        if (!text.isEmpty() && !text.contains("Dynamic Filter") && !text.contains("optional:")) {
          conditions.add(text);
        }
      }
      JsonNode parent = ancestors.isEmpty() ? null : ancestors.get(ancestors.size() - 1);
      if (parent != null && "FILTER".equals(parent.path("name").asText()) && parent.path("children").size() == 1) {
        String expression = parent.path("extra_info").path("Expression").asText().trim();
        if (!expression.isEmpty()) {
          conditions.add(expression);
        }
      }
      Scan scan = new Scan(columns, all, conditions, standIn ? joinKeysAbove(node, ancestors) : List.of());
      if (standIn) {
        scans.computeIfAbsent(name, k -> new ArrayList<>()).add(scan);
      } else if (!table.isEmpty()) {
        localScans.computeIfAbsent(table, k -> new ArrayList<>()).add(scan);
      }
    }
    ancestors.add(node);
    for (JsonNode child : node.path("children")) {
      collect(child, ancestors, standIns, scans, localScans, onlyTableLeaves);
    }
    ancestors.remove(ancestors.size() - 1);
  }

  /**
   * The plain column equalities of the joins above {@code scan} (reached through projections,
   * filters and such joins only) that drop the scan's rows that match nothing: inner and semi joins,
   * the inner side of a left or right join, the probe side of a mark join whose mark the filter
   * right above keeps. A row of the scan that fails one of them reaches nothing above, so each is a
   * key filter candidate; TPC-H Q9's partsupp joins lineitem first and the filtered part above it.
   * Each comes as {left, right, {@link #DIRECT}} from the first join (one of its sides is the scan)
   * or {left, right, {@link #ABOVE}} from a later one (a column of that name may come from another
   * table of its side).
   */
  private static List<String[]> joinKeysAbove(JsonNode scan, List<JsonNode> ancestors) {
    List<String[]> keys = new ArrayList<>();
    JsonNode child = scan;
    boolean first = true;
    for (int i = ancestors.size() - 1; i >= 0; i--) {
      JsonNode a = ancestors.get(i);
      String op = a.path("name").asText();
      if (PASS_THROUGH.contains(op)) {
        child = a;
        continue;
      }
      if (!"HASH_JOIN".equals(op) || a.path("children").size() != 2) {
        return keys;
      }
      int side = a.path("children").get(0) == child ? 0 : a.path("children").get(1) == child ? 1 : -1;
      String type = a.path("extra_info").path("Join Type").asText();
      boolean drops = switch (type) {
        case "INNER", "SEMI", "RIGHT_SEMI" -> side >= 0;
        case "LEFT" -> side == 1;
        case "RIGHT" -> side == 0;
        // an IN (subquery) beside another subquery: a mark join, whose mark the filter right above keeps. The
        // scan reaches the join through projections, filters and joins only, so the filter's one subquery
        // column can only be this join's mark
        case "MARK" -> side == 0 && i > 0 && "FILTER".equals(ancestors.get(i - 1).path("name").asText())
            && ancestors.get(i - 1).path("children").size() == 1
            && "SUBQUERY".equals(ancestors.get(i - 1).path("extra_info").path("Expression").asText().trim());
        default -> false;
      };
      if (!drops) {
        return keys;
      }
      JsonNode conditions = a.path("extra_info").path("Conditions");
      for (JsonNode c : conditions.isArray() ? conditions : JSON.createArrayNode().add(conditions)) {
        java.util.regex.Matcher m = EQUALITY.matcher(c.asText().trim());
        if (m.matches()) {
          // the left operand is the left child's, the right one the right child's; #k is a child's k-th column
          String left = outputName(m.group(1), a.path("children").get(0));
          String right = outputName(m.group(2), a.path("children").get(1));
          if (left != null && right != null) {
            keys.add(new String[] {left, right, first ? DIRECT : ABOVE});
          }
        }
      }
      if ("MARK".equals(type) || "SEMI".equals(type) || "RIGHT_SEMI".equals(type)) {
        return keys; // the rows above are no longer the scan's rows joined with others
      }
      child = a;
      first = false;
    }
    return keys;
  }

  /**
   * Semi-join reduction (dynamic filtering) for a statement that gathers tables of other nodes: a
   * scan whose rows only matter when {@code c = x} holds in the join above it, where {@code x} is a
   * column of exactly one other table R of the statement, needs only the rows whose {@code c} is
   * among R's values of {@code x} — in the rows the statement reads of R, that is R's filtered rows.
   * When R is selective (every scan of it is filtered) and, once known, has at most
   * {@link #MAX_KEYS} keys, the scan is fetched with {@code c IN (keys)}: TPC-H Q17 fetches the
   * lineitem rows of 200 parts instead of all 6 million.
   * <p>
   * Names are traced, so the filter is only made when a name cannot mean anything else: {@code c}
   * and {@code x} are nobody's alias in the statement, {@code x} belongs to R alone and not to the
   * scanned table, and every leaf of the plan reads a table (no table function or VALUES list
   * could bring a column of that name). Anything else leaves the scan as it was.
   */
  private static Map<String, Fetch> keyFilters(DuckDBConnection conn, String sql,
      Map<String, Map<String, String>> standIns, Map<String, List<Scan>> scans, Map<String, List<Scan>> localScans,
      Map<String, Fetch> read, Map<String, Fetch> fetches) throws SQLException, java.io.IOException {
    if (scans.values().stream().flatMap(List::stream).allMatch(s -> s.joinKeys().isEmpty())) {
      return fetches;
    }
    Set<String> aliases = aliasesOf(conn, sql);
    if (aliases == null) {
      return fetches;
    }
    Map<String, Map<String, String>> standInColumns = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    standIns.forEach((t, cols) -> {
      Map<String, String> lower = new LinkedHashMap<>();
      cols.forEach((c, type) -> lower.put(c.toLowerCase(Locale.ROOT), type));
      standInColumns.put(t, lower);
    });
    Map<String, String> localWhere = new LinkedHashMap<>(); // local table -> WHERE of what the statement reads
    Map<String, Fetch> out = new LinkedHashMap<>(fetches);
    for (Map.Entry<String, Fetch> f : fetches.entrySet()) {
      Map<String, String> columns = standInColumns.get(f.getKey());
      List<Scan> of = scans.getOrDefault(f.getKey().toLowerCase(Locale.ROOT), List.of());
      boolean any = false;
      List<List<KeyFilter>> perScan = new ArrayList<>();
      for (Scan s : of) {
        List<KeyFilter> keys = new ArrayList<>();
        for (String[] eq : s.joinKeys()) {
          for (int side = 0; side < 2; side++) {
            String c = eq[side];
            String x = eq[1 - side];
            if (!columns.containsKey(c) || columns.containsKey(x) || aliases.contains(c) || aliases.contains(x)) {
              continue;
            }
            if (ABOVE.equals(eq[2]) && (of.size() != 1 || !onlyColumnOf(conn, f.getKey(), c, standInColumns,
                localScans))) {
              continue; // above the first join, c must be this one scan's column: no other scan has one so named
            }
            KeyFilter k = sourceOf(conn, f.getKey(), c, columns.get(c), x, standInColumns, localScans, localWhere);
            if (k != null) {
              keys.add(k);
            }
          }
        }
        any |= !keys.isEmpty();
        perScan.add(keys);
      }
      if (!any) {
        continue;
      }
      Fetch base = f.getValue();
      List<ScanFilter> keyed = new ArrayList<>();
      for (int i = 0; i < of.size(); i++) {
        keyed.add(new ScanFilter(read.get(f.getKey()).scans().get(i).conditions(), perScan.get(i)));
      }
      out.put(f.getKey(), new Fetch(base.select(), base.where(), keyed, base.sampled()));
    }
    return ordered(out);
  }

  /**
   * Keeps the key filters that can work: those whose source is a table of this node, or a table of
   * other nodes fetched in an earlier round ({@link #rounds}) and selective.
   */
  static Map<String, Fetch> ordered(Map<String, Fetch> fetches) {
    Map<String, Fetch> placed = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (List<String> round : rounds(fetches)) {
      Map<String, Fetch> earlier = new java.util.TreeMap<>(placed);
      for (String t : round) {
        placed.put(t, fetches.get(t).keeping(k -> k.localTable() != null
            || earlier.containsKey(k.source()) && earlier.get(k.source()).selective()));
      }
    }
    Map<String, Fetch> out = new LinkedHashMap<>();
    fetches.keySet().forEach(t -> out.put(t, placed.get(t)));
    return out;
  }

  /**
   * The order tables are fetched in: rounds of tables fetched at once, each table once the tables of
   * other nodes its key filters read are fetched. Where tables wait on each other (Q17's lineitem
   * and part), those filtered by their own conditions or by the keys of a table fetched earlier go
   * first, else all that are left; their key filters on tables of the same or a later round go
   * unused ({@link #ordered} drops them).
   */
  static List<List<String>> rounds(Map<String, Fetch> fetches) {
    List<List<String>> rounds = new ArrayList<>();
    Set<String> pending = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
    pending.addAll(fetches.keySet());
    while (!pending.isEmpty()) {
      List<String> round = new ArrayList<>();
      for (String t : fetches.keySet()) {
        if (pending.contains(t) && fetches.get(t).remoteKeySources().stream()
            .noneMatch(src -> pending.contains(src) && !src.equalsIgnoreCase(t))) {
          round.add(t);
        }
      }
      if (round.isEmpty()) {
        // tables waiting on each other: those reduced already without the others go first, by their own
        // conditions or by the keys of a table fetched in an earlier round (Q11's supplier, by nation's keys,
        // before partsupp, by supplier's)
        fetches.keySet().stream().filter(t -> pending.contains(t) && (fetches.get(t).where() != null
            || fetches.get(t).remoteKeySources().stream().anyMatch(src -> !pending.contains(src)
                && fetches.containsKey(src)))).forEach(round::add);
      }
      if (round.isEmpty()) {
        fetches.keySet().stream().filter(pending::contains).forEach(round::add);
      }
      round.forEach(pending::remove);
      rounds.add(round);
    }
    return rounds;
  }

  /**
   * The key filter {@code c = x} makes for a scan of {@code table}, or null: {@code x} must be a
   * column of exactly one table, another table of other nodes or a table of this node whose every
   * scan is filtered.
   */
  private static KeyFilter sourceOf(DuckDBConnection conn, String table, String c, String cType, String x,
      Map<String, Map<String, String>> standInColumns, Map<String, List<Scan>> localScans,
      Map<String, String> localWhere) {
    String remote = null;
    for (Map.Entry<String, Map<String, String>> t : standInColumns.entrySet()) {
      if (t.getValue().containsKey(x)) {
        if (remote != null || t.getKey().equalsIgnoreCase(table)) {
          return null;
        }
        remote = t.getKey();
      }
    }
    String local = null;
    for (String l : localScans.keySet()) {
      Optional<Boolean> has = hasColumn(conn, l, x);
      if (has.isEmpty()) {
        return null; // the table cannot be asked: x might be its column
      }
      if (has.get()) {
        if (local != null) {
          return null;
        }
        local = l;
      }
    }
    if ((remote == null) == (local == null)) {
      return null; // nobody's column, or more than one table's
    }
    if (remote != null) {
      return new KeyFilter(c, cType, remote, x, null, null);
    }
    String qualified = local;
    String where = localWhere.computeIfAbsent(qualified, q -> {
      Fetch read = fetch(conn, q, Map.of(), localScans.get(q), Set.of(), false);
      return read.where() == null ? "" : read.where();
    });
    if (where.isEmpty()) {
      return null; // the statement reads all of it: its keys reduce nothing
    }
    String name = qualified.substring(qualified.lastIndexOf('.') + 1).replace("\"", "");
    return new KeyFilter(c, cType, name, x, qualified, where);
  }

  /** True when {@code column} is a column of no table the plan reads but {@code table}. */
  private static boolean onlyColumnOf(DuckDBConnection conn, String table, String column,
      Map<String, Map<String, String>> standInColumns, Map<String, List<Scan>> localScans) {
    for (Map.Entry<String, Map<String, String>> t : standInColumns.entrySet()) {
      if (!t.getKey().equalsIgnoreCase(table) && t.getValue().containsKey(column)) {
        return false;
      }
    }
    for (String l : localScans.keySet()) {
      if (!hasColumn(conn, l, column).equals(Optional.of(false))) {
        return false;
      }
    }
    return true;
  }

  /** Whether {@code column} is a column of the table; empty when DuckDB cannot tell (the name does not resolve). */
  private static Optional<Boolean> hasColumn(DuckDBConnection conn, String qualifiedTable, String column) {
    try (PreparedStatement ps = conn.prepareStatement("SELECT " + ArrowSchemas.quoteIdentifier(column) + " FROM "
        + qualifiedTable + " LIMIT 0")) {
      return Optional.of(true);
    } catch (SQLException e) {
      String m = String.valueOf(e.getMessage());
      return m.contains("Referenced column") && m.contains("not found") ? Optional.of(false) : Optional.empty();
    }
  }

  /**
   * Every name the statement gives to something (select-list aliases, table and CTE column
   * aliases, renames), lower case; null when DuckDB cannot serialize the statement.
   */
  private static Set<String> aliasesOf(DuckDBConnection conn, String sql) throws SQLException, java.io.IOException {
    JsonNode tree;
    try (PreparedStatement ps = conn.prepareStatement("SELECT json_serialize_sql(?)")) {
      ps.setString(1, sql);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        tree = JSON.readTree(rs.getString(1));
      }
    }
    if (tree.path("error").asBoolean(true)) {
      return null;
    }
    Set<String> out = new java.util.HashSet<>();
    collectAliases(tree, false, out);
    return out;
  }

  private static final Set<String> ALIAS_FIELDS = Set.of("alias", "aliases", "column_name_alias", "expected_names",
      "rename_list");

  private static void collectAliases(JsonNode node, boolean naming, Set<String> out) {
    if (node.isTextual()) {
      if (naming && !node.asText().isEmpty()) {
        out.add(node.asText().toLowerCase(Locale.ROOT));
      }
      return;
    }
    if (node.isArray()) {
      node.forEach(n -> collectAliases(n, naming, out));
      return;
    }
    node.fields().forEachRemaining(e -> collectAliases(e.getValue(), naming || ALIAS_FIELDS.contains(e.getKey()), out));
  }

  /**
   * The SQL condition for a resolved key filter over {@code relation} (its rows as the statement
   * reads them, narrowed by {@code where} when not null): {@code c IN (keys)}, {@code FALSE} for no
   * keys, or empty when there are more than {@link #MAX_KEYS}.
   */
  static Optional<String> keyCondition(DuckDBConnection conn, KeyFilter k, String relation, String where)
      throws SQLException {
    String x = ArrowSchemas.quoteIdentifier(k.sourceColumn());
    List<String> keys = new ArrayList<>();
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT DISTINCT CAST(" + x
        + " AS VARCHAR) FROM " + relation + " WHERE " + x + " IS NOT NULL" + (where == null ? "" : " AND (" + where
        + ")") + " LIMIT " + (MAX_KEYS + 1))) {
      while (rs.next()) {
        keys.add(rs.getString(1));
      }
    }
    if (keys.size() > MAX_KEYS) {
      return Optional.empty();
    }
    if (keys.isEmpty()) {
      return Optional.of("FALSE");
    }
    String type = k.columnType().trim().toUpperCase(Locale.ROOT);
    boolean integral = type.matches("(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|INT[1248]?|LONG|SHORT)");
    if (integral && keys.size() > 16) {
      // one string literal, split on the node: DuckDB parses a list of 2,000 literals in 15 ms, this in none
      return Optional.of(ArrowSchemas.quoteIdentifier(k.column()) + " IN (SELECT CAST(unnest(string_split('"
          + String.join(",", keys) + "', ',')) AS " + k.columnType() + "))");
    }
    StringBuilder in = new StringBuilder(ArrowSchemas.quoteIdentifier(k.column())).append(" IN (");
    for (int i = 0; i < keys.size(); i++) {
      String literal = "'" + keys.get(i).replace("'", "''") + "'";
      in.append(i == 0 ? "" : ", ").append(integral ? keys.get(i)
          : type.equals("VARCHAR") ? literal : "CAST(" + literal + " AS " + k.columnType() + ")");
    }
    return Optional.of(in.append(')').toString());
  }

  /**
   * How to fetch {@code relation} (a stand-in, or a table of this node) read by {@code scans}, with
   * each scan's conditions that read back as valid SQL (its {@link ScanFilter}s, no key filters yet).
   * The columns in {@code named} (lower case; null: every column) are fetched too.
   */
  private static Fetch fetch(DuckDBConnection conn, String relation, Map<String, String> columns, List<Scan> scans,
      Set<String> named, boolean sample) {
    Set<String> needed = new LinkedHashSet<>(named == null ? Set.of() : named);
    boolean all = named == null;
    List<String> perScan = new ArrayList<>();
    List<ScanFilter> filters = new ArrayList<>();
    boolean everyScanFiltered = true;
    for (int i = 0; i < scans.size(); i++) {
      Scan s = scans.get(i);
      all |= s.allColumns();
      needed.addAll(s.columns());
      List<String> valid = new ArrayList<>();
      for (String c : s.conditions()) {
        if (valid(conn, relation, c)) {
          valid.add("(" + c + ")");
          // the statement still applies the condition itself, so its columns travel too
          io.quiver.coordinator.scan.ColumnUse.identifiers(c).ifPresent(ids -> ids.forEach(
              id -> needed.add(id.toLowerCase(Locale.ROOT))));
        }
      }
      if (valid.isEmpty()) {
        everyScanFiltered = false;
      } else {
        perScan.add("(" + String.join(" AND ", valid) + ")");
      }
      filters.add(new ScanFilter(valid, List.of()));
    }
    List<String> chosen = new ArrayList<>();
    for (String c : columns.keySet()) {
      if (all || needed.contains(c.toLowerCase(Locale.ROOT))) {
        chosen.add(ArrowSchemas.quoteIdentifier(c));
      }
    }
    for (Scan s : scans) {
      for (String n : s.columns()) {
        if (columns.keySet().stream().noneMatch(c -> c.equalsIgnoreCase(n))) {
          all = true; // a projection that is not a plain column: fetch everything
        }
      }
    }
    List<String> sampled = sample && !all && scans.size() == 1 ? sampled(columns, scans.get(0), filters.get(0))
        : List.of();
    chosen.removeIf(q -> sampled.stream().anyMatch(c -> ArrowSchemas.quoteIdentifier(c).equals(q)));
    String select = columns.isEmpty() || all || chosen.size() == columns.size() ? "*" : chosen.isEmpty()
        ? ArrowSchemas.quoteIdentifier(columns.keySet().iterator().next()) : String.join(", ", chosen);
    String where = everyScanFiltered && !perScan.isEmpty() ? String.join(" OR ", perScan) : null;
    return new Fetch(select, where, filters, sampled);
  }

  /**
   * The text columns of a table's one scan that travel as one sampled value ({@link Fetch#sampled}):
   * the scan does not output them (DuckDB applies its conditions on them inside the scan, and nothing
   * above reads them), every condition of the scan naming them was pushed to the fetch, and each of
   * those conditions names no other column of the table (a value from another row passes it too).
   */
  private static List<String> sampled(Map<String, String> columns, Scan scan, ScanFilter pushed) {
    Map<String, String> lower = new LinkedHashMap<>();
    columns.forEach((c, type) -> lower.put(c.toLowerCase(Locale.ROOT), c));
    Map<String, Boolean> candidates = new LinkedHashMap<>(); // column → every condition naming it is pushed alone
    for (String condition : scan.conditions()) {
      Optional<Set<String>> ids = io.quiver.coordinator.scan.ColumnUse.identifiers(condition);
      if (ids.isEmpty()) {
        return List.of(); // a condition that cannot be read: it may name any column
      }
      Set<String> named = new LinkedHashSet<>();
      ids.get().forEach(id -> {
        if (lower.containsKey(id.toLowerCase(Locale.ROOT))) {
          named.add(id.toLowerCase(Locale.ROOT));
        }
      });
      boolean alone = named.size() == 1 && pushed.conditions().contains("(" + condition + ")");
      named.forEach(c -> candidates.merge(c, alone, Boolean::logicalAnd));
    }
    List<String> out = new ArrayList<>();
    candidates.forEach((c, alone) -> {
      String type = columns.get(lower.get(c)).trim().toUpperCase(Locale.ROOT);
      if (alone && !scan.columns().contains(c) && (type.equals("VARCHAR") || type.equals("BLOB"))) {
        out.add(lower.get(c));
      }
    });
    return out;
  }

  /** True when {@code condition} reads back as a condition over the columns of {@code relation}. */
  private static boolean valid(DuckDBConnection conn, String relation, String condition) {
    if (condition.contains("SUBQUERY") || condition.contains("#[")) {
      return false;
    }
    try (PreparedStatement ps = conn.prepareStatement("SELECT 1 FROM " + relation + " WHERE " + condition)) {
      return ps.getParameterMetaData().getParameterCount() == 0;
    } catch (SQLException e) {
      return false;
    }
  }
}
