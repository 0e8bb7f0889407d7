package io.quiver.coordinator.plan;

import io.quiver.coordinator.write.SqlTokens;
import io.quiver.coordinator.write.SqlTokens.Kind;
import io.quiver.coordinator.write.SqlTokens.Token;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Splits a query over distributed tables into one fragment per data node and a final step on the
 * coordinator, when that is provably correct; otherwise it declines and the caller gathers.
 *
 * <p>The <b>anchor</b> is a partitioned table read by the query's outer rows (the top SELECT and
 * the derived tables it reads row by row), the largest one the query can be split around. Tables
 * partitioned like it ({@code colocate_with}: same shard → node mapping) form the <b>co-located
 * group</b>: on each node a fragment reads only that node's shards of them. A partitioned table of
 * another group whose every read is tied to the anchor's key through one of its columns is
 * <b>shuffled</b>: each fragment pulls the rows whose column hashes to its own shards. Every other
 * table (small tables, replicated tables) is read whole by each fragment — a <b>broadcast</b>,
 * pulled by the node itself from the tables' shards.
 *
 * <p>When no table can anchor the query in place, or the plan would broadcast a partitioned table
 * of at least half the anchor's rows, the anchor is tried <b>repartitioned</b> (a hash-shuffled join
 * of both sides): one of its join columns stands in for its partition column, and its rows, like the
 * shuffled tables', are hash-partitioned on the join column into one bucket per fragment. Every
 * proof below then holds with "shard" read as "bucket".
 *
 * <p>Running the query on each node over its shards and putting the results together is correct when
 * every output row comes from exactly one shard. The planner proves that from the text:
 *
 * <ul>
 *   <li>all outer occurrences of group tables are tied together by equalities of their partition
 *       columns, as conjuncts of WHERE/ON (so each joined row lives in one shard);</li>
 *   <li>every occurrence of a group table inside a subquery is tied to that same shard key by a
 *       conjunct of the subquery (a correlated EXISTS/IN/scalar subquery on the key) or by {@code
 *       key IN (SELECT key ...)} whose groups, if any, include the key — so the subquery sees, for each
 *       outer row, all the rows it would see on one node;</li>
 *   <li>the right side of a LEFT JOIN holds every match of a left row on its node (read whole, or
 *       co-located and joined on the key);</li>
 *   <li>no RIGHT/FULL joins, set operations, window functions, CTEs or parameters (these decline).</li>
 * </ul>
 *
 * <p>The outer query is then combined on the coordinator: rows are concatenated (and sorted and
 * limited again; each fragment already applies ORDER BY with LIMIT); aggregates are split into
 * partial ones per node (AVG as SUM and COUNT; DISTINCT aggregates of one expression deduplicated
 * per node) and final ones, unless the GROUP BY holds the shard key, in which case every group is
 * complete on one node and the fragments run the whole query.
 */
public final class FragmentPlanner {
  private static final Set<String> REFUSED = Set.of("with", "union", "intersect", "except", "right", "full",
      "natural", "using", "lateral", "over", "qualify", "window", "recursive", "pivot", "unpivot", "asof",
      "positional", "tablesample", "anti", "semi", "grouping", "rollup", "cube", "values", "returning", "insert",
      "update", "delete", "copy", "create", "drop", "alter", "explain", "describe", "show", "pragma", "set", "call",
      "attach", "detach", "install", "load", "export", "import", "checkpoint", "vacuum", "summarize", "from_json");
  private static final Set<String> SPLITTABLE = Set.of("sum", "count", "min", "max", "avg");
  /** Tables smaller than this are always broadcast: one pull beats filtering every shard per fragment. */
  static final long SHUFFLE_MIN_ROWS = 1_000;
  /**
   * A table is shuffled when it has at least 1/4 of the anchor's rows (broadcasting it to every
   * fragment would move more than the anchor itself) and at most 4 times them (a much larger table
   * would be better as the anchor; moving all of it costs more than gathering).
   */
  static final long SHUFFLE_RATIO = 4;

  /**
   * What the planner needs to know about a table the query names; {@code columnTypes} its columns'
   * DuckDB types in order, lower-case names (empty when unknown: the Calcite planner then declines).
   */
  public record TableInfo(String name, Set<String> columns, String partitionColumn, String group, long rows,
      Map<String, String> columnTypes) {
    public TableInfo(String name, Set<String> columns, String partitionColumn, String group, long rows) {
      this(name, columns, partitionColumn, group, rows, Map.of());
    }

    /** True for a table copied whole to every node. */
    public boolean replicated() {
      return partitionColumn == null;
    }
  }

  /** Looks up table names; empty for a name that is not a cluster table. */
  @FunctionalInterface
  public interface Catalog {
    Optional<TableInfo> table(String name);
  }

  /** How the outer query is put together on the coordinator. */
  public enum Combine {
    /** rows are concatenated, then sorted and limited again */
    CONCATENATE,
    /** every group is complete on one node: the fragments run the whole query */
    COMPLETE_GROUPS,
    /** partial aggregates per node, final aggregates on the coordinator */
    PARTIAL_AGGREGATE
  }

  /** A literal restriction on the shard key, for shard pruning: key = v1 or v2 ..., or lower ≤ key ≤ upper. */
  public record KeyRestriction(List<String> equals, String lower, String upper) {}

  /**
   * The split. {@code partialSql} runs on each node over its shards of the {@code grouped} tables
   * (see {@link #fragment}); {@link #finalSql} combines the nodes' rows. When {@code repartitioned},
   * no table is read in place: the anchor's rows, like every shuffled table's, are hash-partitioned
   * on their join column into one bucket per fragment (a hash-shuffled join of both sides); {@code
   * shuffled} then names the anchor first, with the column its rows are bucketed by, and {@code
   * grouped} is empty. When {@code outer} is not empty, the split is that of the query's one
   * derived table, and the final query is the original query over the derived table's combined
   * rows: {@code outer} holds its text before and after the derived table's SELECT. {@code
   * regrouped}: a LEFT JOIN of the shards to a table read whole runs per node, and the final
   * aggregation adds the nodes' groups up (see {@code regroupable}). {@code finalQuery}, when not
   * null, is the whole final query as the Calcite planner wrote it ({@link CalcitePlanner}), over
   * the relation {@link #PARTIALS}; {@code finalItems}, {@code finalTail} and {@code outer} are then
   * unused.
   */
  public record Plan(String anchor, List<String> grouped, List<String> broadcast, Map<String, String> shuffled,
      Combine combine, String partialSql, List<FinalItem> finalItems, String finalTail, boolean finalDistinct,
      Optional<KeyRestriction> keyRestriction, boolean repartitioned, boolean regrouped, List<String> outer,
      String finalQuery) {
    /** The name under which a fragment reads all of a shuffled table (its node pulls it, filtered). */
    public static final String PULL_PREFIX = "__quiver_pull_";
    /** The quoted name {@code finalQuery} reads the nodes' rows by. */
    public static final String PARTIALS = "\"__quiver_partials\"";

    /**
     * The SQL one node runs: its shards of each co-located table under the table's own name, each
     * shuffled table as the rows of all its shards that {@code pullFilters} keeps (the rows whose
     * shuffle column hashes to this node's shards; an empty filter when the rows arrive already
     * routed, by a push shuffle), then the partial query.
     */
    public String fragment(Map<String, List<String>> shardTables, Map<String, String> pullFilters) {
      StringBuilder b = new StringBuilder("WITH ");
      boolean first = true;
      for (Map.Entry<String, List<String>> e : shardTables.entrySet()) {
        b.append(first ? "" : ", ").append(quote(e.getKey())).append(" AS NOT MATERIALIZED (");
        first = false;
        List<String> parts = e.getValue();
        for (int i = 0; i < parts.size(); i++) {
          b.append(i == 0 ? "" : " UNION ALL ").append("SELECT * FROM ").append(quote(parts.get(i)));
        }
        b.append(')');
      }
      for (Map.Entry<String, String> e : pullFilters.entrySet()) {
        b.append(first ? "" : ", ").append(quote(e.getKey())).append(" AS NOT MATERIALIZED (SELECT * FROM ")
            .append(quote(PULL_PREFIX + e.getKey())).append(e.getValue().isEmpty() ? "" : " WHERE " + e.getValue())
            .append(')');
        first = false;
      }
      return b.append(' ').append(partialSql).toString();
    }

    /**
     * The combining query over {@code partials} (the nodes' rows). {@code names} and {@code types}
     * give each output column the name and type the original query has (a null type: no cast).
     */
    public String finalSql(String partials, List<String> names, List<String> types) {
      if (finalQuery != null) {
        String q = finalQuery.replace(PARTIALS, partials);
        if (names == null) {
          return q;
        }
        // the original's column names, and the casts to its types, by position
        StringBuilder b = new StringBuilder("SELECT ");
        StringBuilder columns = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
          String type = types == null || i >= types.size() ? null : types.get(i);
          String c = "__quiver_c" + i;
          b.append(i == 0 ? "" : ", ").append(type == null ? c : "CAST(" + c + " AS " + type + ")").append(" AS ")
              .append(quote(names.get(i)));
          columns.append(i == 0 ? "" : ", ").append(c);
        }
        return b.append(" FROM (").append(q).append(") AS __quiver_final(").append(columns).append(')').toString();
      }
      if (!outer.isEmpty()) {
        return outer.get(0) + combining(partials, null, null) + outer.get(1);
      }
      return combining(partials, names, types);
    }

    private String combining(String partials, List<String> names, List<String> types) {
      StringBuilder b = new StringBuilder("SELECT ").append(finalDistinct ? "DISTINCT " : "");
      if (finalItems.isEmpty()) {
        b.append('*');
      }
      for (int i = 0; i < finalItems.size(); i++) {
        FinalItem item = finalItems.get(i);
        String type = types == null || i >= types.size() ? null : types.get(i);
        String expr = type == null ? item.expression() : "CAST((" + item.expression() + ") AS " + type + ")";
        String name = item.alias() != null ? item.alias()
            : names != null && i < names.size() ? quote(names.get(i)) : null;
        b.append(i == 0 ? "" : ", ").append(expr).append(name == null ? "" : " AS " + name);
      }
      return b.append(" FROM ").append(partials).append(finalTail).toString();
    }

    /** A readable summary for EXPLAIN: the strategy per table. */
    public String strategy() {
      StringBuilder b = new StringBuilder(finalQuery != null ? "planned by Calcite: " : "");
      if (repartitioned) {
        b.append("hash-shuffled join: every side repartitioned by hash of its join column into one bucket per "
            + "fragment: ").append(String.join(", ", shuffled.entrySet().stream().map(e -> e.getKey() + " on "
            + e.getValue()).toList()));
      } else {
        b.append(grouped.size() > 1 ? "co-located join of " + String.join(", ", grouped)
            : "fragments over the shards of " + grouped.get(0));
      }
      if (!shuffled.isEmpty() && !repartitioned) {
        b.append("; shuffled to the fragments by hash of the join column: ").append(String.join(", ",
            shuffled.entrySet().stream().map(e -> e.getKey() + " on " + e.getValue()).toList()));
      }
      if (!broadcast.isEmpty()) {
        b.append("; broadcast to every fragment: ").append(String.join(", ", broadcast));
      }
      b.append("; combined by ").append(switch (combine) {
        case CONCATENATE -> "concatenating rows";
        case COMPLETE_GROUPS -> repartitioned ? "concatenating complete groups (the GROUP BY holds the join column "
            + "the rows are bucketed by)" : "concatenating complete groups (the GROUP BY holds the shard key)";
        case PARTIAL_AGGREGATE -> "final aggregation of partial aggregates" + (regrouped ? " (the LEFT JOIN of the "
            + "shards to a table read whole runs on each node over the matches it holds; a null-extended row adds "
            + "nothing to its group's aggregates)" : "");
      });
      if (!outer.isEmpty()) {
        b.append("; the outer query runs on the coordinator over the derived table's combined rows");
      }
      return b.toString();
    }
  }

  /** One output column of the final query: its expression over the partial rows and its alias (or null). */
  public record FinalItem(String expression, String alias) {}

  private final String sql;
  private final List<Token> t;
  private final Catalog catalog;
  private final Set<String> aggregateNames;
  private final List<Scope> scopes = new ArrayList<>();
  private final int[] owner;
  private final Map<String, TableInfo> infos = new HashMap<>();
  private int occurrences;
  /** True while planning a hash-shuffled join of both sides ({@link #repartitioned}). */
  private boolean repartition;
  /** The top scope LEFT JOINs the anchor's shards to tables read whole: see {@link #regroupable}. */
  private boolean regroup;

  private FragmentPlanner(String sql, List<Token> tokens, Catalog catalog, Set<String> aggregateNames) {
    this.sql = sql;
    this.t = tokens;
    this.catalog = catalog;
    this.aggregateNames = aggregateNames;
    this.owner = new int[tokens.size()];
  }

  /**
   * Plans {@code query}; empty when it cannot be split provably correctly (the caller then gathers).
   * {@code aggregateNames}: every aggregate function name of the engine, lower case, so that an
   * aggregate this planner cannot split is recognised as one.
   */
  public static Optional<Plan> plan(String query, Catalog catalog, Set<String> aggregateNames) {
    List<Token> tokens = SqlTokens.statement(query).orElse(List.of());
    if (tokens.isEmpty() || !tokens.get(0).is("select")) {
      return Optional.empty();
    }
    for (Token k : tokens) {
      if (k.kind() == Kind.PARAMETER || (k.kind() == Kind.WORD && REFUSED.contains(k.text().toLowerCase(Locale.ROOT)))
          || k.isSymbol(";")) {
        return Optional.empty();
      }
    }
    FragmentPlanner planner = new FragmentPlanner(query, tokens, catalog, aggregateNames);
    Optional<Plan> plain;
    try {
      plain = planner.run();
    } catch (Decline d) {
      return Optional.empty();
    }
    for (Repartition r : planner.repartitions(plain)) {
      Catalog rekeyed = n -> catalog.table(n).map(info -> !info.name().equals(r.table()) ? info
          : new TableInfo(info.name(), info.columns(), r.column(), REPARTITIONED_GROUP + info.name(), info.rows()));
      try {
        Optional<Plan> p = new FragmentPlanner(query, tokens, rekeyed, aggregateNames).repartitioned(r.table());
        if (p.isPresent() && (r.mustShuffle().isEmpty() || r.mustShuffle().stream().anyMatch(
            p.get().shuffled()::containsKey))) {
          return p;
        }
      } catch (Decline d) {
        // try the next column
      }
    }
    return plain.isPresent() ? plain : planner.composed(catalog, aggregateNames);
  }

  /**
   * A query whose FROM is one derived table that is not a plain pass-through (it groups, say, as
   * in TPC-H Q13), with no other subquery: the derived table is planned as a query of its own, and
   * the query runs on the coordinator over its combined rows. Empty when the derived table cannot be
   * split either.
   */
  private Optional<Plan> composed(Catalog catalog, Set<String> aggregateNames) {
    Scope top = scopes.isEmpty() ? null : scopes.get(0);
    if (top == null || top.from < 0 || top.items.size() != 1 || top.items.get(0).derived == null
        || !top.children.equals(List.of(top.items.get(0).derived))) {
      return Optional.empty();
    }
    Scope d = top.items.get(0).derived;
    Optional<Plan> inner = plan(text(d.start, d.end), catalog, aggregateNames);
    if (inner.isEmpty()) {
      return inner;
    }
    Plan p = inner.get();
    String before = sql.substring(0, t.get(d.start).start());
    String after = sql.substring(t.get(d.end - 1).end(), t.get(t.size() - 1).end());
    List<String> outer = p.outer().isEmpty() ? List.of(before, after)
        : List.of(before + p.outer().get(0), p.outer().get(1) + after);
    return Optional.of(new Plan(p.anchor(), p.grouped(), p.broadcast(), p.shuffled(), p.combine(), p.partialSql(),
        p.finalItems(), p.finalTail(), p.finalDistinct(), p.keyRestriction(), p.repartitioned(), p.regrouped(), outer, null));
  }

  /**
   * A hash-shuffled join to try: {@code table} repartitioned on {@code column}; when not empty, the
   * plan must shuffle one of {@code mustShuffle} (a table the plain plan broadcasts that is too large for it).
   */
  private record Repartition(String table, String column, Set<String> mustShuffle) {}

  /** The group of a table while the planner tries it repartitioned: no other table is co-located with it. */
  private static final String REPARTITIONED_GROUP = "\0repartitioned ";
  /**
   * A partitioned table the plain plan would broadcast is repartitioned with the anchor instead when
   * it has at least 1/2 of the anchor's rows: broadcasting it to n fragments moves n copies of it,
   * repartitioning moves both tables once.
   */
  private static final long REPARTITION_RATIO = 2;

  /** Thrown inside the planner for any shape it does not prove correct. */
  private static final class Decline extends RuntimeException {
    Decline() {
      super(null, null, false, false);
    }
  }

  private static Decline decline() {
    return new Decline();
  }

  // ------------------------------------------------------------------------------------------------ structure

  private static final class Scope {
    final int index;
    final int start;
    final int end;
    final int depth;
    final Scope parent;
    boolean distinct;
    int from = -1;
    int where = -1;
    int groupBy = -1;
    int having = -1;
    int orderBy = -1;
    int limit = -1;
    int offset = -1;
    final List<Item> items = new ArrayList<>();
    final List<int[]> conjuncts = new ArrayList<>();
    final List<Scope> children = new ArrayList<>();
    Item derivedOf; // the FROM item this scope is the derived table of, or null

    Scope(int index, int start, int end, int depth, Scope parent) {
      this.index = index;
      this.start = start;
      this.end = end;
      this.depth = depth;
      this.parent = parent;
    }
  }

  /** A FROM item: a table (with its info) or a derived table, under an alias. */
  private static final class Item {
    final int id;
    final String alias;
    final TableInfo table;
    final Scope derived;
    /** The right side of a LEFT JOIN: its ON conjuncts, which do not filter the rows of the left side. */
    boolean nullSupplying;
    final List<int[]> on = new ArrayList<>();

    Item(int id, String alias, TableInfo table, Scope derived) {
      this.id = id;
      this.alias = alias;
      this.table = table;
      this.derived = derived;
    }
  }

  /** Parses the query's scopes; the outer rows (the top scope and the derived tables it reads row by row), or null. */
  private List<Scope> parse() {
    buildScopes();
    for (Scope s : scopes) {
      parseClauses(s);
    }
    for (Scope s : scopes) {
      parseFrom(s);
    }
    Scope top = scopes.get(0);
    if (top.from < 0) {
      return null;
    }
    List<Scope> roots = new ArrayList<>();
    collectRoots(top, roots);
    return roots;
  }

  /** The partitioned tables the outer rows read, largest first (one item per table). */
  private static List<Item> anchorCandidates(List<Scope> roots) {
    List<Item> candidates = new ArrayList<>();
    for (Scope r : roots) {
      for (Item i : r.items) {
        if (i.table != null && !i.table.replicated() && candidates.stream().noneMatch(c -> c.table == i.table)) {
          candidates.add(i);
        }
      }
    }
    candidates.sort((x, y) -> x.table.rows() != y.table.rows() ? Long.compare(y.table.rows(), x.table.rows())
        : x.table.name().compareTo(y.table.name()));
    return candidates;
  }

  private Optional<Plan> run() {
    List<Scope> roots = parse();
    if (roots == null) {
      return Optional.empty();
    }
    Scope top = scopes.get(0);
    // anchors to try, largest first: the first one the query can be split around wins
    for (Item anchor : anchorCandidates(roots)) {
      try {
        return Optional.of(around(anchor, top, roots));
      } catch (Decline d) {
        // try the next anchor
      }
    }
    return Optional.empty();
  }

  /** The plan with {@code table} repartitioned on the column the catalog now gives as its partition column. */
  private Optional<Plan> repartitioned(String table) {
    List<Scope> roots = parse();
    if (roots == null) {
      return Optional.empty();
    }
    repartition = true;
    for (Item anchor : anchorCandidates(roots)) {
      if (anchor.table.name().equals(table)) {
        return Optional.of(around(anchor, scopes.get(0), roots));
      }
    }
    return Optional.empty();
  }

  /**
   * The hash-shuffled joins worth trying after {@link #run}: when it found no plan, or its plan
   * broadcasts a partitioned table of at least 1/{@value #REPARTITION_RATIO} of the anchor's rows.
   * Each is a partitioned table of the outer rows (largest first) with one of its columns that a
   * conjunct of the outer rows equates with a column of another read of a partitioned table (another
   * table, or the same table again), other than its own partition column.
   */
  private List<Repartition> repartitions(Optional<Plan> plain) {
    if (scopes.isEmpty() || scopes.get(0).from < 0) {
      return List.of();
    }
    List<Scope> roots = new ArrayList<>();
    collectRoots(scopes.get(0), roots);
    List<Item> reads = new ArrayList<>();
    roots.forEach(r -> r.items.stream().filter(i -> i.table != null && !i.table.replicated()).forEach(reads::add));
    Set<String> mustShuffle = new LinkedHashSet<>();
    if (plain.isPresent()) {
      long anchorRows = reads.stream().filter(i -> i.table.name().equals(plain.get().anchor())).mapToLong(
          i -> i.table.rows()).findFirst().orElse(Long.MAX_VALUE);
      for (Scope s : scopes) {
        for (Item i : s.items) {
          if (i.table != null && !i.table.replicated() && plain.get().broadcast().contains(i.table.name())
              && i.table.rows() * REPARTITION_RATIO >= anchorRows) {
            mustShuffle.add(i.table.name());
          }
        }
      }
      if (mustShuffle.isEmpty()) {
        return List.of();
      }
    }
    UnionFind keys = new UnionFind();
    for (Scope r : roots) {
      addConjuncts(r, keys);
      for (Item i : r.items) {
        if (i.nullSupplying) {
          keys = withOn(r, i, keys);
        }
      }
    }
    List<Repartition> out = new ArrayList<>();
    for (Item anchor : anchorCandidates(roots)) {
      for (String c : anchor.table.columns()) {
        if (c.equals(anchor.table.partitionColumn())) {
          continue;
        }
        boolean joined = false;
        for (Item other : reads) {
          if (other != anchor) {
            for (String x : other.table.columns()) {
              joined |= keys.same(key(anchor, c), key(other, x));
            }
          }
        }
        if (joined) {
          out.add(new Repartition(anchor.table.name(), c, Set.copyOf(mustShuffle)));
        }
      }
    }
    return out;
  }

  /** The plan with {@code anchor}'s shards in place; declines when the query cannot be split around it. */
  private Plan around(Item anchor, Scope top, List<Scope> roots) {
    regroup = false;
    String group = anchor.table.group();
    // roots: all their group occurrences tied by partition-key equalities
    UnionFind rootKeys = new UnionFind();
    for (Scope r : roots) {
      addConjuncts(r, rootKeys);
    }
    String shardKey = key(anchor, anchor.table.partitionColumn());
    for (Scope r : roots) {
      for (Item i : r.items) {
        if (isGrouped(i, group) && !i.nullSupplying && !rootKeys.same(key(i, i.table.partitionColumn()), shardKey)) {
          throw decline();
        }
        if (i.derived != null && !roots.contains(i.derived) && containsGrouped(i.derived, group)) {
          throw decline(); // an aggregated derived table over shards: its groups may span nodes
        }
      }
    }
    // subqueries: each group occurrence tied to the outer row's shard key
    Map<Scope, UnionFind> scopeKeys = new HashMap<>();
    for (Scope r : roots) {
      scopeKeys.put(r, rootKeys);
    }
    for (Scope s : scopes) {
      if (s != top && !roots.contains(s) && isExpressionScope(s, roots)) {
        UnionFind keys = subqueryKeys(s, rootKeys);
        scopeKeys.put(s, keys);
        if (!subqueryIsLocal(s, keys, shardKey, group)) {
          throw decline();
        }
      }
    }
    // other partitioned tables: shuffled on the column that ties every read of them to the shard key, or broadcast
    Map<String, String> shuffled = new LinkedHashMap<>();
    for (Scope s : scopes) {
      for (Item i : s.items) {
        if (i.table != null && !i.table.replicated() && !isGrouped(i, group) && worthShuffling(i.table, anchor.table)
            && !shuffled.containsKey(i.table.name())) {
          shuffleColumn(i.table, shardKey, scopeKeys).ifPresent(c -> shuffled.put(i.table.name(), c));
        }
      }
    }
    // the right side of a LEFT JOIN must hold every match of a left row on this node: a table read whole, or a
    // co-located table whose key the ON condition equates with the key of a co-located table on the left
    for (Scope s : scopes) {
      for (Item i : s.items) {
        if (i.nullSupplying && (shuffled.containsKey(i.table.name()) || (isGrouped(i, group)
            && !joinedOnKey(s, i, group, scopeKeys.getOrDefault(s, rootKeys), shardKey)))) {
          if (joinedOnBuckets(s, i, group, shuffled)) {
            continue;
          }
          if (s == top && !repartition && isGrouped(i, group) && !shuffled.containsKey(i.table.name())
              && regroupable(top, i, group, shuffled.keySet())) {
            regroup = true;
            continue;
          }
          throw decline();
        }
      }
    }
    List<String> grouped = new ArrayList<>();
    List<String> broadcast = new ArrayList<>();
    for (Scope s : scopes) {
      for (Item i : s.items) {
        if (i.table == null || shuffled.containsKey(i.table.name())) {
          continue;
        }
        if (isGrouped(i, group)) {
          addOnce(grouped, i.table.name());
        } else {
          // a table read whole by each fragment must be smaller than the anchor (else gathering is cheaper)
          if (!i.table.replicated() && i.table.rows() > anchor.table.rows()) {
            throw decline();
          }
          addOnce(broadcast, i.table.name());
        }
      }
    }
    if (repartition) {
      // the anchor's rows are bucketed by its join column like the shuffled tables' rows: worth it only for a join of
      // the anchor with a shuffled table or with itself
      long reads = roots.stream().mapToLong(r -> r.items.stream().filter(i -> isGrouped(i, group)).count()).sum();
      if (shuffled.isEmpty() && reads < 2) {
        throw decline();
      }
      Map<String, String> all = new LinkedHashMap<>();
      all.put(anchor.table.name(), anchor.table.partitionColumn());
      all.putAll(shuffled);
      return combine(top, rootKeys, shardKey, anchor.table.name(), List.of(), broadcast, all, Optional.empty());
    }
    Optional<KeyRestriction> restriction = restriction(roots, rootKeys, shardKey);
    return combine(top, rootKeys, shardKey, anchor.table.name(), grouped, broadcast, shuffled, restriction);
  }

  /**
   * True when an ON conjunct of the LEFT JOIN of {@code right} equates its partition column with the
   * partition column of a co-located table on the left that is tied to the shard key.
   */
  private boolean joinedOnKey(Scope s, Item right, String group, UnionFind keys, String shardKey) {
    return onEquatesWithLeft(s, right, key(right, right.table.partitionColumn()), (left, other) ->
        isGrouped(left, group) && !left.nullSupplying && other.equals(key(left, left.table.partitionColumn()))
        && keys.same(other, shardKey));
  }

  /**
   * True when an ON conjunct of the LEFT JOIN of {@code right} is {@code rightKey = other} (either
   * way round) and {@code leftMatches} accepts {@code other} for a table to the left of {@code right}.
   */
  private boolean onEquatesWithLeft(Scope s, Item right, String rightKey,
      java.util.function.BiPredicate<Item, String> leftMatches) {
    for (int[] c : right.on) {
      String[] sides = equatedColumns(s, c);
      String other = sides == null ? null : rightKey.equals(sides[0]) ? sides[1]
          : rightKey.equals(sides[1]) ? sides[0] : null;
      if (other == null) {
        continue;
      }
      for (Item left : s.items) {
        if (left == right) {
          break; // only tables to its left
        }
        if (leftMatches.test(left, other)) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * True when the top scope's LEFT JOIN of {@code right} (a read of the anchor's shards) to tables
   * every fragment reads whole may run on each node over its shards and be put together by a final
   * aggregation. Each node then joins every left row to the matches it holds (a left row without
   * one there gets a null-extended row), so a left row's matches are spread over the nodes and
   * each node may add a null-extended row. That changes nothing when:
   *
   * <ul>
   *   <li>the query aggregates, grouped by columns of the left side only (a null-extended row
   *       falls into a group the left row makes anyway), and its aggregates are count/sum/min/max/avg
   *       of the right side's columns only, without FILTER or DISTINCT (they ignore the nulls of a
   *       null-extended row, and the final aggregation adds up the nodes' matches);</li>
   *   <li>no condition outside the ON reads the right side (it would see the null-extended rows),
   *       and the scope has no other LEFT JOIN, no shuffled or co-located table besides, and no
   *       subquery.</li>
   * </ul>
   *
   * <p>TPC-H Q13's {@code customer LEFT OUTER JOIN orders ... GROUP BY c_custkey} with {@code
   * count(o_orderkey)}: each node counts the orders it holds, the coordinator adds the counts.
   */
  private boolean regroupable(Scope top, Item right, String group, Set<String> shuffled) {
    if (!top.children.stream().allMatch(c -> c.derivedOf != null && c.derivedOf.table == null
        && readsWhole(c, group, shuffled))) {
      return false;
    }
    for (Item i : top.items) {
      if (i != right && (i.nullSupplying || isGrouped(i, group) || (i.table != null
          && shuffled.contains(i.table.name())))) {
        return false;
      }
    }
    for (int[] c : top.conjuncts) {
      if (reads(top, c[0], c[1], right)) {
        return false;
      }
    }
    if (top.groupBy >= 0) {
      for (List<Integer> g : split(top, top.groupBy + 2, clauseEnd(top, top.groupBy))) {
        String k = resolve(top, g);
        if (k == null || k.startsWith(right.id + "#")) {
          return false;
        }
      }
    }
    List<Integer> calls = aggregateCalls(top);
    if (calls.isEmpty()) {
      return false;
    }
    for (int call : calls) {
      int close = matching(call + 1);
      if (!SPLITTABLE.contains(t.get(call).text().toLowerCase(Locale.ROOT)) || (close + 1 < top.end
          && t.get(close + 1).is("filter")) || !nullOnNullExtended(top, call + 2, close, right)) {
        return false;
      }
    }
    return true;
  }

  /**
   * True when tokens {@code [from, to)} of {@code s} are arithmetic ({@code + - * /}, parentheses,
   * numbers) over columns of {@code right}, at least one: the value is NULL on a row that {@code
   * right} null-extends. Not for anything else: {@code coalesce}, {@code CASE} or {@code IS NULL}
   * turn the NULL into a value, and {@code *} alone counts the row.
   */
  private boolean nullOnNullExtended(Scope s, int from, int to, Item right) {
    boolean column = false;
    for (int i = from; i < to; i++) {
      Token k = t.get(i);
      if (owner[i] != s.index) {
        return false;
      }
      if (k.kind() == Kind.NUMBER || (k.kind() == Kind.SYMBOL && "+-*/()".contains(k.text())
          && k.text().length() == 1)) {
        continue;
      }
      List<Integer> ref = i + 2 < to && t.get(i + 1).isSymbol(".") ? List.of(i, i + 1, i + 2) : List.of(i);
      String key = k.isIdentifier() && !(i + 1 < to && t.get(i + 1).isSymbol("(")) ? resolve(s, ref) : null;
      if (key == null || !key.startsWith(right.id + "#")) {
        return false; // a function, a keyword, a literal other than a number, or a column of the left side
      }
      column = true;
      i += ref.size() - 1;
    }
    return column;
  }

  /** True when scope {@code s} and its subqueries read no shard of the anchor's group and no shuffled table. */
  private boolean readsWhole(Scope s, String group, Set<String> shuffled) {
    for (Item i : s.items) {
      if (isGrouped(i, group) || (i.table != null && shuffled.contains(i.table.name()))) {
        return false;
      }
    }
    return s.children.stream().allMatch(c -> readsWhole(c, group, shuffled));
  }

  /** True when tokens {@code [from, to)} of scope {@code s} name a column of {@code item}. */
  private boolean reads(Scope s, int from, int to, Item item) {
    for (int i = from; i < to; i++) {
      if (!t.get(i).isIdentifier() || (i > 0 && t.get(i - 1).isSymbol("."))) {
        continue;
      }
      List<Integer> ref = i + 2 < to && t.get(i + 1).isSymbol(".") ? List.of(i, i + 1, i + 2) : List.of(i);
      String k = resolve(owner[i] >= 0 ? scopes.get(owner[i]) : s, ref);
      if (k != null && k.startsWith(item.id + "#")) {
        return true;
      }
    }
    return false;
  }

  /**
   * True when an ON conjunct of the LEFT JOIN of {@code right} (shuffled, or the anchor's shards of a
   * repartitioned plan) equates the column its rows are routed by with the column a table on the left
   * is routed by: the anchor's shard key (a repartitioned plan's bucket column), or, in a
   * repartitioned plan, a shuffled table's column. A left row and every row that matches it then
   * land in the same fragment. (A left table shuffled onto the anchor's shards is not enough: its rows
   * whose column is NULL go to no fragment, and a LEFT JOIN must keep them.)
   */
  private boolean joinedOnBuckets(Scope s, Item right, String group, Map<String, String> shuffled) {
    String rightColumn = isGrouped(right, group) ? right.table.partitionColumn() : shuffled.get(right.table.name());
    if (rightColumn == null || (isGrouped(right, group) && !repartition)) {
      return false;
    }
    return onEquatesWithLeft(s, right, key(right, rightColumn), (left, other) -> {
      String leftColumn = left.nullSupplying || left.table == null ? null : isGrouped(left, group)
          ? left.table.partitionColumn() : repartition ? shuffled.get(left.table.name()) : null;
      return leftColumn != null && other.equals(key(left, leftColumn));
    });
  }

  private static boolean worthShuffling(TableInfo table, TableInfo anchor) {
    return table.rows() >= SHUFFLE_MIN_ROWS && table.rows() * SHUFFLE_RATIO >= anchor.rows()
        && table.rows() <= anchor.rows() * SHUFFLE_RATIO;
  }

  /**
   * A column of {@code table} that every read of it is tied to the shard key by (a conjunct
   * equality in its scope or around it): then each fragment needs only the rows whose column value
   * hashes to its own shards. Not with NOT IN anywhere, whose NULL semantics need every row.
   */
  private Optional<String> shuffleColumn(TableInfo table, String shardKey, Map<Scope, UnionFind> scopeKeys) {
    for (int i = 0; i + 1 < t.size(); i++) {
      if (t.get(i).is("not") && t.get(i + 1).is("in")) {
        return Optional.empty();
      }
    }
    Set<String> common = null;
    for (Scope s : scopes) {
      for (Item i : s.items) {
        if (i.table != table) {
          continue;
        }
        UnionFind keys = scopeKeys.get(s);
        if (keys == null) {
          return Optional.empty(); // inside an aggregated derived table
        }
        if (i.nullSupplying) {
          keys = withOn(s, i, keys); // the right side of a LEFT JOIN: see joinedOnBuckets
        }
        Set<String> tied = new LinkedHashSet<>();
        for (String c : table.columns()) {
          if (keys.same(key(i, c), shardKey)) {
            tied.add(c);
          }
        }
        if (common == null) {
          common = tied;
        } else {
          common.retainAll(tied);
        }
      }
    }
    return common == null || common.isEmpty() ? Optional.empty() : Optional.of(common.iterator().next());
  }

  private static void addOnce(List<String> list, String v) {
    if (!list.contains(v)) {
      list.add(v);
    }
  }

  private void buildScopes() {
    List<Scope> open = new ArrayList<>();
    for (int i = 0; i < t.size(); i++) {
      while (!open.isEmpty() && t.get(i).depth() < open.get(open.size() - 1).depth) {
        open.remove(open.size() - 1);
      }
      if (t.get(i).is("select")) {
        if (i > 0 && !t.get(i - 1).isSymbol("(")) {
          throw decline(); // a SELECT that does not open a (sub)query
        }
        int d = t.get(i).depth();
        int end = i + 1;
        while (end < t.size() && t.get(end).depth() >= d) {
          end++;
        }
        Scope parent = open.isEmpty() ? null : open.get(open.size() - 1);
        if (parent == null && i != 0) {
          throw decline();
        }
        Scope s = new Scope(scopes.size(), i, end, d, parent);
        if (parent != null) {
          parent.children.add(s);
        }
        scopes.add(s);
        open.add(s);
      }
      owner[i] = open.isEmpty() ? -1 : open.get(open.size() - 1).index;
    }
    if (scopes.isEmpty() || scopes.get(0).end != t.size()) {
      throw decline();
    }
  }

  private void parseClauses(Scope s) {
    for (int i = s.start + 1; i < s.end; i++) {
      Token k = t.get(i);
      if (k.depth() != s.depth) {
        continue;
      }
      boolean next = i + 1 < s.end && t.get(i + 1).is("by");
      if (i == s.start + 1 && k.is("distinct")) {
        s.distinct = true;
        if (i + 1 < s.end && t.get(i + 1).is("on")) {
          throw decline();
        }
      } else if (k.is("from") && s.from < 0) {
        s.from = i;
      } else if (k.is("where") && s.where < 0) {
        s.where = i;
      } else if (k.is("group") && next && s.groupBy < 0) {
        s.groupBy = i;
      } else if (k.is("having") && s.having < 0) {
        s.having = i;
      } else if (k.is("order") && next && s.orderBy < 0) {
        s.orderBy = i;
      } else if (k.is("limit") && s.limit < 0) {
        s.limit = i;
      } else if (k.is("offset") && s.offset < 0) {
        s.offset = i;
      }
    }
    int[] marks = {s.from, s.where, s.groupBy, s.having, s.orderBy, s.limit};
    int last = -1;
    for (int m : marks) {
      if (m >= 0) {
        if (m < last) {
          throw decline(); // clauses out of the usual order
        }
        last = m;
      }
    }
    if (s.where >= 0) {
      addConjunctRanges(s, s.where + 1, clauseEnd(s, s.where));
    }
  }

  /** The index where the clause starting at {@code at} ends: the next clause of the scope or its end. */
  private int clauseEnd(Scope s, int at) {
    int best = s.end;
    for (int m : new int[] {s.from, s.where, s.groupBy, s.having, s.orderBy, s.limit, s.offset}) {
      if (m > at && m < best) {
        best = m;
      }
    }
    return best;
  }

  /** Splits {@code [from, to)} at its top-level ANDs (an AND closing a BETWEEN excepted). */
  private void addConjunctRanges(Scope s, int from, int to) {
    addConjunctRanges(s, from, to, s.conjuncts);
  }

  private void addConjunctRanges(Scope s, int from, int to, List<int[]> into) {
    int start = from;
    int betweens = 0;
    List<int[]> found = new ArrayList<>();
    for (int i = from; i < to; i++) {
      Token k = t.get(i);
      if (k.depth() != s.depth) {
        continue;
      }
      if (k.is("between")) {
        betweens++;
      } else if (k.is("and")) {
        if (betweens > 0) {
          betweens--;
        } else {
          found.add(new int[] {start, i});
          start = i + 1;
        }
      } else if (k.is("or")) {
        // an OR at this level: the whole range is one conjunct, as written
        into.add(new int[] {from, to});
        return;
      }
    }
    found.add(new int[] {start, to});
    into.addAll(found);
  }

  private void parseFrom(Scope s) {
    if (s.from < 0) {
      return;
    }
    int end = clauseEnd(s, s.from);
    int i = s.from + 1;
    boolean leftJoin = false;
    while (i < end) {
      // one item: a table or a derived table, an optional alias, an optional ON condition
      Item item;
      Token k = t.get(i);
      if (k.isSymbol("(") && i + 1 < end && t.get(i + 1).is("select")) {
        Scope child = scopeStartingAt(i + 1);
        Alias a = alias(child.end + 1, end); // past ")"
        i = a.next();
        String alias = a.name();
        if (alias == null || (i < end && t.get(i).isSymbol("("))) {
          throw decline();
        }
        item = new Item(occurrences++, alias, null, child);
        child.derivedOf = item;
      } else if (k.isIdentifier() && !isJoinWord(k)) {
        if (i + 1 < end && (t.get(i + 1).isSymbol(".") || t.get(i + 1).isSymbol("("))) {
          throw decline(); // schema-qualified names, table functions
        }
        String name = k.identifier();
        TableInfo info = infos.computeIfAbsent(name, n -> catalog.table(n).orElse(null));
        if (info == null) {
          throw decline(); // not a cluster table
        }
        Alias a = alias(i + 1, end);
        i = a.next();
        item = new Item(occurrences++, a.name() != null ? a.name() : name, info, null);
      } else {
        throw decline();
      }
      s.items.add(item);
      item.nullSupplying = leftJoin;
      if (leftJoin && (item.table == null || i >= end || !t.get(i).is("on"))) {
        throw decline(); // LEFT JOIN of a derived table, or without ON
      }
      if (i < end && t.get(i).is("on")) {
        int condStart = i + 1;
        int condEnd = condStart;
        while (condEnd < end && !(t.get(condEnd).depth() == s.depth && (t.get(condEnd).isSymbol(",")
            || isJoinWord(t.get(condEnd))))) {
          condEnd++;
        }
        addConjunctRanges(s, condStart, condEnd, leftJoin ? item.on : s.conjuncts);
        i = condEnd;
      }
      leftJoin = false;
      if (i >= end) {
        break;
      }
      // separator: "," or [INNER|CROSS] JOIN or LEFT [OUTER] JOIN
      if (t.get(i).isSymbol(",")) {
        i++;
      } else if (t.get(i).is("left")) {
        int j = i + 1 < end && t.get(i + 1).is("outer") ? i + 2 : i + 1;
        if (j >= end || !t.get(j).is("join")) {
          throw decline();
        }
        leftJoin = true;
        i = j + 1;
      } else if (t.get(i).is("inner") || t.get(i).is("cross")) {
        if (i + 1 >= end || !t.get(i + 1).is("join")) {
          throw decline();
        }
        i += 2;
      } else if (t.get(i).is("join")) {
        i++;
      } else {
        throw decline();
      }
    }
  }

  /** A FROM item's alias ({@code [AS] name}, or null when none) and the position after it. */
  private record Alias(String name, int next) {}

  /** The alias starting at {@code i} (before {@code end}). */
  private Alias alias(int i, int end) {
    int at = i < end && t.get(i).is("as") ? i + 1 : i;
    if (at < end && t.get(at).isIdentifier() && !isJoinWord(t.get(at))) {
      return new Alias(t.get(at).identifier(), at + 1);
    }
    return new Alias(null, at);
  }

  private static boolean isJoinWord(Token k) {
    return k.is("join") || k.is("inner") || k.is("cross") || k.is("left") || k.is("outer") || k.is("on")
        || k.is("where") || k.is("group")
        || k.is("order") || k.is("having") || k.is("limit") || k.is("offset");
  }

  private Scope scopeStartingAt(int selectIndex) {
    for (Scope s : scopes) {
      if (s.start == selectIndex) {
        return s;
      }
    }
    throw decline();
  }

  private void collectRoots(Scope s, List<Scope> roots) {
    roots.add(s);
    for (Item i : s.items) {
      if (i.derived != null && transparent(i.derived)) {
        collectRoots(i.derived, roots);
      }
    }
  }

  /** A derived table that passes rows through: no grouping, aggregates, DISTINCT or LIMIT. */
  private boolean transparent(Scope s) {
    return s.groupBy < 0 && s.having < 0 && !s.distinct && s.limit < 0 && s.offset < 0 && aggregateCalls(s).isEmpty();
  }

  private boolean isExpressionScope(Scope s, List<Scope> roots) {
    // a subquery in an expression, or a derived table inside one; not inside a non-root derived table
    for (Scope p = s; p != null; p = p.parent) {
      if (p.derivedOf != null && !roots.contains(p) && p.parent != null && roots.contains(p.parent)) {
        return false; // inside an aggregated derived table of the outer rows (checked separately)
      }
    }
    return true;
  }

  private static boolean isGrouped(Item i, String group) {
    return i.table != null && !i.table.replicated() && i.table.group().equals(group);
  }

  private boolean containsGrouped(Scope s, String group) {
    for (Item i : s.items) {
      if (isGrouped(i, group) || (i.derived != null && containsGrouped(i.derived, group))) {
        return true;
      }
    }
    for (Scope c : s.children) {
      if (containsGrouped(c, group)) {
        return true;
      }
    }
    return false;
  }

  /**
   * True when the subquery {@code s} sees, for each outer row, exactly the rows it would see over the
   * whole cluster: it reads no group table, or each group table it reads is tied to the shard key.
   */
  private boolean subqueryIsLocal(Scope s, UnionFind keys, String shardKey, String group) {
    if (s.items.stream().noneMatch(i -> isGrouped(i, group))) {
      return true;
    }
    if (s.derivedOf != null && (s.limit >= 0 || s.offset >= 0)) {
      return false; // a LIMIT applied before the outer condition ties the rows to a shard
    }
    for (Item i : s.items) {
      if (isGrouped(i, group) && !keys.same(key(i, i.table.partitionColumn()), shardKey)) {
        return false;
      }
    }
    return true;
  }

  /** The column equalities that hold for a subquery's rows: its own conjuncts and those around it. */
  private UnionFind subqueryKeys(Scope s, UnionFind rootKeys) {
    UnionFind keys = rootKeys.copy();
    for (Scope p = s; p != null; p = p.parent) {
      addConjuncts(p, keys);
      if (p.parent != null && p.limit < 0 && p.offset < 0) {
        inKeyEdge(p, keys);
      }
    }
    return keys;
  }

  /**
   * {@code x [NOT] IN (s)} where x is tied to the shard key and s selects one group table's partition
   * column: unites the two when s's groups (if any) include that column and s has no LIMIT.
   */
  private boolean inKeyEdge(Scope s, UnionFind keys) {
    if (s.start < 3 || !t.get(s.start - 1).isSymbol("(") || !t.get(s.start - 2).is("in")) {
      return false;
    }
    List<List<Integer>> select = split(s, s.start + 1 + (s.distinct ? 1 : 0), s.from);
    if (select.size() != 1 || s.limit >= 0 || s.offset >= 0) {
      return false;
    }
    String inner = resolve(s, select.get(0));
    int leftEnd = s.start - 2;
    if (t.get(leftEnd - 1).is("not")) {
      leftEnd--;
    }
    List<Integer> left = colRefBefore(leftEnd);
    if (left != null && left.get(0) > 0) {
      Token before = t.get(left.get(0) - 1);
      if (!(before.is("where") || before.is("and") || before.is("or") || before.is("on") || before.is("having")
          || before.is("not") || before.isSymbol("("))) {
        return false; // part of a larger expression: (a + x) IN (...)
      }
    }
    Scope outer = s.parent;
    String outerKey = left == null || outer == null ? null : resolve(outer, left);
    if (inner == null || outerKey == null) {
      return false;
    }
    boolean aggregated = s.groupBy >= 0 || !aggregateCalls(s).isEmpty();
    if (aggregated) {
      boolean groupedOnIt = false;
      if (s.groupBy >= 0) {
        for (List<Integer> g : split(s, s.groupBy + 2, clauseEnd(s, s.groupBy))) {
          String k = resolve(s, g);
          groupedOnIt |= inner.equals(k);
        }
      }
      if (!groupedOnIt) {
        return false;
      }
    }
    keys.union(inner, outerKey);
    return true;
  }

  /** Column references {@code [q.]c} ending just before {@code end}, or null. */
  private List<Integer> colRefBefore(int end) {
    if (end >= 1 && t.get(end - 1).isIdentifier()) {
      if (end >= 3 && t.get(end - 2).isSymbol(".") && t.get(end - 3).isIdentifier()) {
        return List.of(end - 3, end - 2, end - 1);
      }
      return List.of(end - 1);
    }
    return null;
  }

  /** {@code keys} and the column equalities of the ON of {@code item}'s LEFT JOIN, in a copy. */
  private UnionFind withOn(Scope s, Item item, UnionFind keys) {
    UnionFind out = keys.copy();
    for (int[] c : item.on) {
      String[] sides = equatedColumns(s, c);
      if (sides != null && sides[0] != null && sides[1] != null) {
        out.union(sides[0], sides[1]);
      }
    }
    return out;
  }

  /** Unites both sides of every {@code a = b} conjunct of {@code s} that names two columns. */
  private void addConjuncts(Scope s, UnionFind keys) {
    for (int[] c : s.conjuncts) {
      String[] sides = equatedColumns(s, c);
      if (sides != null && sides[0] != null && sides[1] != null) {
        keys.union(sides[0], sides[1]);
      }
    }
  }

  /**
   * For a conjunct {@code a = b} between two column references, the keys both resolve to (either
   * null when it is not a column of a FROM item); null for any other conjunct.
   */
  private String[] equatedColumns(Scope s, int[] c) {
    int eq = -1;
    for (int i = c[0]; i < c[1]; i++) {
      if (t.get(i).isSymbol("=") && t.get(i).depth() == s.depth) {
        eq = i;
      }
    }
    if (eq < 0) {
      return null;
    }
    List<Integer> left = range(c[0], eq);
    List<Integer> right = range(eq + 1, c[1]);
    if (!isColRef(left) || !isColRef(right)) {
      return null;
    }
    return new String[] {resolve(s, left), resolve(s, right)};
  }

  private static List<Integer> range(int from, int to) {
    List<Integer> r = new ArrayList<>();
    for (int i = from; i < to; i++) {
      r.add(i);
    }
    return r;
  }

  private boolean isColRef(List<Integer> idx) {
    if (idx.size() == 1) {
      return t.get(idx.get(0)).isIdentifier();
    }
    return idx.size() == 3 && t.get(idx.get(0)).isIdentifier() && t.get(idx.get(1)).isSymbol(".")
        && t.get(idx.get(2)).isIdentifier();
  }

  /**
   * The key {@code occurrence#column} a column reference denotes in scope {@code s} (through derived
   * tables that pass the column on unchanged), or null when it is not a column of a FROM item.
   */
  private String resolve(Scope s, List<Integer> ref) {
    if (!isColRef(ref)) {
      return null;
    }
    String qualifier = ref.size() == 3 ? t.get(ref.get(0)).identifier().toLowerCase(Locale.ROOT) : null;
    String column = t.get(ref.get(ref.size() - 1)).identifier().toLowerCase(Locale.ROOT);
    for (Scope p = s; p != null; p = p.parent) {
      Item found = null;
      for (Item i : p.items) {
        boolean matches = qualifier != null ? i.alias.equalsIgnoreCase(qualifier) : hasColumn(i, column);
        if (matches) {
          if (found != null) {
            return null; // ambiguous
          }
          found = i;
        }
      }
      if (found != null) {
        if (found.derived != null) {
          List<Integer> through = derivedColumn(found.derived, column);
          return through != null ? resolveOrSelf(found.derived, through, found, column) : key(found, column);
        }
        return found.table.columns().contains(column) ? key(found, column) : null;
      }
    }
    return null;
  }

  private String resolveOrSelf(Scope derived, List<Integer> through, Item item, String column) {
    String k = resolve(derived, through);
    return k != null ? k : key(item, column);
  }

  private boolean hasColumn(Item i, String column) {
    if (i.table != null) {
      return i.table.columns().contains(column);
    }
    return outputNames(i.derived).contains(column);
  }

  /** The output column names of a scope's select list (aliases, or the names of plain column references). */
  private Set<String> outputNames(Scope s) {
    Set<String> names = new LinkedHashSet<>();
    for (List<Integer> item : split(s, s.start + 1 + (s.distinct ? 1 : 0), s.from)) {
      String n = outputName(item);
      if (n != null) {
        names.add(n);
      }
    }
    return names;
  }

  private String outputName(List<Integer> item) {
    int n = item.size();
    if (n >= 2 && t.get(item.get(n - 2)).is("as") && t.get(item.get(n - 1)).isIdentifier()) {
      return t.get(item.get(n - 1)).identifier().toLowerCase(Locale.ROOT);
    }
    if (isColRef(item)) {
      return t.get(item.get(n - 1)).identifier().toLowerCase(Locale.ROOT);
    }
    return null;
  }

  /** In a derived table, the plain column reference that defines output {@code column}, or null. */
  private List<Integer> derivedColumn(Scope s, String column) {
    for (List<Integer> item : split(s, s.start + 1 + (s.distinct ? 1 : 0), s.from)) {
      if (!column.equals(outputName(item))) {
        continue;
      }
      int n = item.size();
      List<Integer> expr = n >= 2 && t.get(item.get(n - 2)).is("as") ? item.subList(0, n - 2) : item;
      return isColRef(expr) ? expr : null;
    }
    return null;
  }

  private static String key(Item i, String column) {
    return i.id + "#" + column.toLowerCase(Locale.ROOT);
  }

  /** Splits {@code [from, to)} of scope {@code s} at its own commas, as lists of token indexes. */
  private List<List<Integer>> split(Scope s, int from, int to) {
    List<List<Integer>> out = new ArrayList<>();
    List<Integer> current = new ArrayList<>();
    for (int i = from; i < to; i++) {
      if (t.get(i).isSymbol(",") && t.get(i).depth() == s.depth) {
        out.add(current);
        current = new ArrayList<>();
      } else {
        current.add(i);
      }
    }
    if (!current.isEmpty()) {
      out.add(current);
    }
    return out;
  }

  /** Calls of aggregate functions belonging to scope {@code s} (not to its subqueries): index of the name. */
  private List<Integer> aggregateCalls(Scope s) {
    List<Integer> calls = new ArrayList<>();
    for (int i = s.start; i < s.end - 1; i++) {
      Token k = t.get(i);
      if (owner[i] == s.index && k.kind() == Kind.WORD && t.get(i + 1).isSymbol("(")
          && aggregateNames.contains(k.text().toLowerCase(Locale.ROOT))
          && !(i > 0 && t.get(i - 1).isSymbol("."))) {
        calls.add(i);
      }
    }
    return calls;
  }

  // ------------------------------------------------------------------------------------------------ pruning

  /** Literal restrictions on the shard key from the top scope's conjuncts: key = literal, IN list, bounds. */
  private Optional<KeyRestriction> restriction(List<Scope> roots, UnionFind rootKeys, String shardKey) {
    List<String> equals = null;
    String lower = null;
    String upper = null;
    for (Scope r : roots) {
      for (int[] c : r.conjuncts) {
        List<Integer> idx = range(c[0], c[1]);
        int n = idx.size();
        if (n >= 3 && isKeyRef(r, idx.subList(0, refLength(idx)), rootKeys, shardKey)) {
          int op = refLength(idx);
          List<Integer> rest = idx.subList(op, n);
          Token o = t.get(rest.get(0));
          if (o.isSymbol("=") && rest.size() >= 2 && isLiteral(rest.subList(1, rest.size()))) {
            List<String> v = List.of(text(rest.subList(1, rest.size())));
            equals = equals == null ? v : intersect(equals, v);
          } else if (o.is("in") && rest.size() >= 3 && t.get(rest.get(1)).isSymbol("(")
              && matching(rest.get(1)) == rest.get(rest.size() - 1)) {
            List<String> values = new ArrayList<>();
            for (List<Integer> v : splitAtDepth(rest.subList(2, rest.size() - 1))) {
              if (!isLiteral(v)) {
                values = null;
                break;
              }
              values.add(text(v));
            }
            if (values != null && !values.isEmpty()) {
              equals = equals == null ? values : intersect(equals, values);
            }
          } else if (o.is("between") && rest.size() >= 4) {
            int and = -1;
            for (int j = 1; j < rest.size(); j++) {
              if (t.get(rest.get(j)).is("and")) {
                and = j;
                break;
              }
            }
            if (and > 1 && isLiteral(rest.subList(1, and)) && isLiteral(rest.subList(and + 1, rest.size()))) {
              lower = text(rest.subList(1, and));
              upper = text(rest.subList(and + 1, rest.size()));
            }
          } else if (rest.size() >= 2 && (o.isSymbol(">") || o.isSymbol("<"))) {
            boolean orEqual = t.get(rest.get(1)).isSymbol("=");
            List<Integer> v = rest.subList(orEqual ? 2 : 1, rest.size());
            if (!v.isEmpty() && isLiteral(v)) {
              if (o.isSymbol(">")) {
                lower = text(v);
              } else {
                upper = text(v);
              }
            }
          }
        }
      }
    }
    if (equals == null && lower == null && upper == null) {
      return Optional.empty();
    }
    return Optional.of(new KeyRestriction(equals, equals != null ? null : lower, equals != null ? null : upper));
  }

  private static List<String> intersect(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.retainAll(b);
    return out;
  }

  private int refLength(List<Integer> idx) {
    return idx.size() >= 3 && t.get(idx.get(1)).isSymbol(".") ? 3 : 1;
  }

  private boolean isKeyRef(Scope s, List<Integer> ref, UnionFind keys, String shardKey) {
    String k = resolve(s, ref);
    return k != null && keys.same(k, shardKey);
  }

  /** A number, a string, or a typed literal such as {@code DATE '1995-01-01'} (with an optional sign). */
  private boolean isLiteral(List<Integer> v) {
    int i = 0;
    if (!v.isEmpty() && t.get(v.get(0)).isSymbol("-")) {
      i = 1;
    }
    if (v.size() - i == 1) {
      Kind k = t.get(v.get(i)).kind();
      return k == Kind.NUMBER || k == Kind.STRING;
    }
    return v.size() - i == 2 && i == 0 && t.get(v.get(0)).kind() == Kind.WORD
        && Set.of("date", "timestamp").contains(t.get(v.get(0)).text().toLowerCase(Locale.ROOT))
        && t.get(v.get(1)).kind() == Kind.STRING;
  }

  private List<List<Integer>> splitAtDepth(List<Integer> run) {
    List<List<Integer>> out = new ArrayList<>();
    List<Integer> current = new ArrayList<>();
    int base = run.isEmpty() ? 0 : t.get(run.get(0)).depth();
    for (int i : run) {
      if (t.get(i).isSymbol(",") && t.get(i).depth() == base) {
        out.add(current);
        current = new ArrayList<>();
      } else {
        current.add(i);
      }
    }
    out.add(current);
    return out;
  }

  // ------------------------------------------------------------------------------------------------ combining

  private Plan combine(Scope top, UnionFind rootKeys, String shardKey, String anchor, List<String> grouped,
      List<String> broadcast, Map<String, String> shuffled, Optional<KeyRestriction> restriction) {
    List<Integer> calls = aggregateCalls(top);
    boolean aggregated = top.groupBy >= 0 || top.having >= 0 || !calls.isEmpty();
    boolean complete = false;
    if (top.groupBy >= 0) {
      for (List<Integer> g : split(top, top.groupBy + 2, clauseEnd(top, top.groupBy))) {
        String k = resolve(top, g);
        complete |= k != null && rootKeys.same(k, shardKey);
      }
    }
    if (regroup && (!aggregated || complete)) {
      throw decline(); // a LEFT JOIN split per node needs its groups put together again (see regroupable)
    }
    if (!aggregated || complete) {
      // the nodes run the whole query (with LIMIT n + OFFSET m, no OFFSET); the coordinator sorts and limits again
      int partialEnd = top.end; // before LIMIT/OFFSET (in either order), and before an ORDER BY without LIMIT
      for (int m : new int[] {top.limit, top.offset, top.limit < 0 ? top.orderBy : -1}) {
        if (m >= 0 && m < partialEnd) {
          partialEnd = m;
        }
      }
      String partial = text(top.start, partialEnd);
      String limitValue = top.limit >= 0 ? text(top.limit + 1, clauseEnd(top, top.limit)) : null;
      String offsetValue = top.offset >= 0 ? text(top.offset + 1, clauseEnd(top, top.offset)) : null;
      if (limitValue != null) {
        partial += " LIMIT " + (offsetValue == null ? limitValue : "(" + limitValue + ") + (" + offsetValue + ")");
      }
      String tail = (top.orderBy >= 0 ? " ORDER BY " + outputRefs(top, top.orderBy + 2,
          clauseEnd(top, top.orderBy), Map.of()) : "")
          + (limitValue != null ? " LIMIT " + limitValue : "") + (offsetValue != null ? " OFFSET " + offsetValue : "");
      return new Plan(anchor, grouped, broadcast, shuffled, aggregated ? Combine.COMPLETE_GROUPS : Combine.CONCATENATE,
          partial, List.of(), tail, top.distinct && !aggregated, restriction, repartition, regroup, List.of(), null);
    }
    if (top.distinct) {
      throw decline();
    }
    // partial aggregation: group columns and partial aggregates per node, final aggregates here
    int afterGroups = top.having >= 0 ? top.having : top.orderBy >= 0 ? top.orderBy : top.end;
    for (Scope c : top.children) {
      if (c.derivedOf == null && (c.start < top.from || c.start > afterGroups)) {
        throw decline(); // subqueries in the select list, HAVING or ORDER BY would run here, without the tables
      }
    }
    Map<String, String> groupNames = new LinkedHashMap<>(); // resolved key → output name in the partial rows
    List<String> partialItems = new ArrayList<>();
    Set<String> names = new LinkedHashSet<>();
    if (top.groupBy >= 0) {
      for (List<Integer> g : split(top, top.groupBy + 2, clauseEnd(top, top.groupBy))) {
        if (!isColRef(g)) {
          throw decline();
        }
        String name = t.get(g.get(g.size() - 1)).identifier().toLowerCase(Locale.ROOT);
        if (!names.add(name)) {
          throw decline();
        }
        String k = resolve(top, g);
        groupNames.put(k == null ? name : k, name);
        partialItems.add(text(g) + " AS " + quote(name));
      }
    }
    Map<Integer, String> replacements = new HashMap<>(); // call start → final expression
    Map<Integer, Integer> callEnds = new HashMap<>();
    String distinctArg = distinctArgument(calls);
    if (distinctArg != null) {
      // every aggregate is over DISTINCT of one expression: the nodes deduplicate, the coordinator aggregates
      partialItems.add(distinctArg + " AS __quiver_d");
      for (int call : calls) {
        replacements.put(call, t.get(call).text() + "(DISTINCT __quiver_d)");
        callEnds.put(call, matching(call + 1) + 1);
      }
    }
    int n = 0;
    for (int call : distinctArg != null ? List.<Integer>of() : calls) {
      String fn = t.get(call).text().toLowerCase(Locale.ROOT);
      if (!SPLITTABLE.contains(fn)) {
        throw decline();
      }
      int close = matching(call + 1);
      for (int i = call + 2; i < close; i++) {
        if (t.get(i).is("distinct") || t.get(i).is("order")) {
          throw decline();
        }
      }
      int end = close + 1;
      String filter = "";
      if (end + 1 < top.end && t.get(end).is("filter") && t.get(end + 1).isSymbol("(")) {
        int fclose = matching(end + 1);
        filter = " " + text(end, fclose + 1);
        end = fclose + 1;
      }
      String args = text(call + 2, close);
      String p = "__quiver_a" + (n++);
      switch (fn) {
        case "sum", "min", "max" -> {
          partialItems.add(fn + "(" + args + ")" + filter + " AS " + p);
          replacements.put(call, fn + "(" + p + ")");
        }
        case "count" -> {
          partialItems.add("count(" + args + ")" + filter + " AS " + p);
          replacements.put(call, "CAST(coalesce(sum(" + p + "), 0) AS BIGINT)");
        }
        default -> {
          partialItems.add("sum(" + args + ")" + filter + " AS " + p + "s");
          partialItems.add("count(" + args + ")" + filter + " AS " + p + "c");
          replacements.put(call, "(CAST(sum(" + p + "s) AS DOUBLE) / CAST(sum(" + p + "c) AS DOUBLE))");
        }
      }
      callEnds.put(call, end);
    }
    if (partialItems.isEmpty()) {
      throw decline();
    }
    int fromEnd = top.groupBy >= 0 ? clauseEnd(top, top.groupBy) : clauseEnd(top, top.where >= 0 ? top.where
        : top.from);
    String partial = "SELECT " + String.join(", ", partialItems) + " " + text(top.from, fromEnd)
        + (distinctArg == null ? "" : (top.groupBy >= 0 ? ", " : " GROUP BY ") + distinctArg);
    List<FinalItem> items = new ArrayList<>();
    for (List<Integer> item : split(top, top.start + 1, top.from)) {
      int sz = item.size();
      boolean aliased = sz >= 3 && t.get(item.get(sz - 2)).is("as") && t.get(item.get(sz - 1)).isIdentifier();
      if (sz == 1 && t.get(item.get(0)).isSymbol("*")) {
        throw decline();
      }
      List<Integer> expr = aliased ? item.subList(0, sz - 2) : item;
      items.add(new FinalItem(rewrite(top, expr.get(0), expr.get(expr.size() - 1) + 1, replacements, callEnds,
          groupNames), aliased ? text(item.subList(sz - 1, sz)) : null));
    }
    StringBuilder tail = new StringBuilder();
    if (!groupNames.isEmpty()) {
      tail.append(" GROUP BY ").append(String.join(", ", groupNames.values().stream().map(FragmentPlanner::quote)
          .toList()));
    }
    if (top.having >= 0) {
      tail.append(" HAVING ").append(rewrite(top, top.having + 1, clauseEnd(top, top.having), replacements,
          callEnds, groupNames));
    }
    if (top.orderBy >= 0) {
      tail.append(" ORDER BY ").append(rewrite(top, top.orderBy + 2, clauseEnd(top, top.orderBy), replacements,
          callEnds, groupNames));
    }
    if (top.limit >= 0) {
      tail.append(' ').append(text(top.limit, top.end));
    } else if (top.offset >= 0) {
      tail.append(' ').append(text(top.offset, top.end));
    }
    return new Plan(anchor, grouped, broadcast, shuffled, Combine.PARTIAL_AGGREGATE, partial, items, tail.toString(),
        false, restriction, repartition, regroup, List.of(), null);
  }

  /**
   * The argument when every aggregate call is {@code count/sum/avg/min/max(DISTINCT <the same
   * expression>)} without FILTER; null when none is DISTINCT; declines a mix.
   */
  private String distinctArgument(List<Integer> calls) {
    String arg = null;
    boolean plain = false;
    for (int call : calls) {
      int close = matching(call + 1);
      boolean distinct = call + 2 < close && t.get(call + 2).is("distinct");
      if (!distinct) {
        plain = true;
        continue;
      }
      String fn = t.get(call).text().toLowerCase(Locale.ROOT);
      String a = call + 3 < close ? text(call + 3, close) : null;
      boolean filtered = close + 1 < t.size() && t.get(close + 1).is("filter");
      if (a == null || filtered || !SPLITTABLE.contains(fn) || (arg != null && !arg.equals(a))) {
        throw decline();
      }
      arg = a;
    }
    if (arg != null && plain) {
      throw decline();
    }
    return arg;
  }

  /** ORDER BY text with qualified column references reduced to their column names (the partial rows' names). */
  private String outputRefs(Scope s, int from, int to, Map<String, String> groupNames) {
    return rewrite(s, from, to, Map.of(), Map.of(), groupNames);
  }

  /**
   * The text of {@code [from, to)} with aggregate calls replaced by their final expressions and
   * column references to grouping columns replaced by the grouping column's name in the partial rows.
   */
  private String rewrite(Scope s, int from, int to, Map<Integer, String> replacements, Map<Integer, Integer> callEnds,
      Map<String, String> groupNames) {
    StringBuilder b = new StringBuilder();
    int copied = t.get(from).start();
    int i = from;
    while (i < to) {
      String r = replacements.get(i);
      if (r != null) {
        b.append(sql, copied, t.get(i).start()).append(r);
        i = callEnds.get(i);
        copied = t.get(i - 1).end();
        continue;
      }
      if (i + 2 < to && t.get(i).isIdentifier() && t.get(i + 1).isSymbol(".") && t.get(i + 2).isIdentifier()
          && !(i > 0 && t.get(i - 1).isSymbol("."))) {
        String k = resolve(s, List.of(i, i + 1, i + 2));
        String name = k == null ? null : groupNames.get(k);
        if (name != null || groupNames.isEmpty()) {
          // a qualified reference: the partial rows carry the column under its own name
          b.append(sql, copied, t.get(i).start()).append(quote(name != null ? name
              : t.get(i + 2).identifier().toLowerCase(Locale.ROOT)));
          copied = t.get(i + 2).end();
          i += 3;
          continue;
        }
      }
      i++;
    }
    b.append(sql, copied, t.get(to - 1).end());
    return b.toString();
  }

  /** The index of the ")" closing the "(" at {@code open}. */
  private int matching(int open) {
    int close = SqlTokens.matching(t, open);
    if (close < 0) {
      throw decline();
    }
    return close;
  }

  private String text(int from, int to) {
    return sql.substring(t.get(from).start(), t.get(to - 1).end());
  }

  private String text(List<Integer> idx) {
    return text(idx.get(0), idx.get(idx.size() - 1) + 1);
  }

  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }

  /** Equivalence classes of column keys. */
  private static final class UnionFind {
    private final Map<String, String> parent = new HashMap<>();

    String find(String k) {
      String p = parent.getOrDefault(k, k);
      if (p.equals(k)) {
        return k;
      }
      String root = find(p);
      parent.put(k, root);
      return root;
    }

    void union(String a, String b) {
      String ra = find(a);
      String rb = find(b);
      if (!ra.equals(rb)) {
        parent.put(ra, rb);
      }
    }

    boolean same(String a, String b) {
      return find(a).equals(find(b));
    }

    UnionFind copy() {
      UnionFind u = new UnionFind();
      u.parent.putAll(parent);
      return u;
    }
  }
}
