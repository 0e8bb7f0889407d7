package io.quiver.coordinator.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Calcite planner's splits, run for real: each query's fragments run on one DuckDB over a
 * third of the rows each (the rows whose key hashes to the fragment, as shards and shuffles
 * place them), the final query over their rows, and the result must equal the query run on all
 * the rows. Also what it must decline, and why.
 */
class CalcitePlannerTest {
  private static final int FRAGMENTS = 3;
  private static Connection db;
  private static final Map<String, FragmentPlanner.TableInfo> TABLES = new LinkedHashMap<>();

  @BeforeAll
  static void data() throws SQLException {
    db = DriverManager.getConnection("jdbc:duckdb:");
    try (Statement s = db.createStatement()) {
      // orders and lines co-located on the order id; users hashed on their own id (large: shuffled);
      // regions replicated; coupons partitioned but small (broadcast)
      s.execute("CREATE TABLE orders AS SELECT i AS o_id, i % 700 AS o_user, (i % 13)::INTEGER AS o_region, "
          + "CAST(i % 97 AS DECIMAL(15,2)) AS o_total, DATE '2024-01-01' + (i % 300)::INTEGER AS o_date FROM range(0, "
          + "4000) t(i)");
      s.execute("CREATE TABLE lines AS SELECT i % 4000 AS l_order, i AS l_no, CAST(i % 31 AS DECIMAL(15,2)) AS "
          + "l_price, CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 5)::INTEGER END AS l_qty FROM range(0, 12000) t(i)");
      s.execute("CREATE TABLE users AS SELECT i AS u_id, 'user ' || i AS u_name, (i % 4)::INTEGER AS u_tier "
          + "FROM range(0, 1000) t(i)");
      s.execute("CREATE TABLE notes AS SELECT i AS n_id, (i * 7) % 4100 AS n_order, (i % 3)::INTEGER AS n_kind "
          + "FROM range(0, 3000) t(i)");
      s.execute("CREATE TABLE regions AS SELECT i::INTEGER AS r_id, 'region ' || i AS r_name FROM range(0, 13) t(i)");
      s.execute("CREATE TABLE coupons AS SELECT i AS c_id, i % 4000 AS c_order FROM range(0, 50) t(i)");
    }
    table("orders", "o_id", "orders", 4000);
    table("lines", "l_order", "orders", 12000);
    table("users", "u_id", "users", 1000);
    table("notes", "n_id", "notes", 3000);
    table("regions", null, null, 13);
    table("coupons", "c_id", "coupons", 50);
  }

  @AfterAll
  static void close() throws SQLException {
    db.close();
  }

  private static void table(String name, String key, String group, long rows) throws SQLException {
    Map<String, String> types = new LinkedHashMap<>();
    try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery("DESCRIBE " + name)) {
      while (rs.next()) {
        types.put(rs.getString(1), rs.getString(2));
      }
    }
    TABLES.put(name, new FragmentPlanner.TableInfo(name, types.keySet(), key, group, rows, types));
  }

  private static CalcitePlanner.Outcome plan(String sql) {
    return CalcitePlanner.plan(sql, n -> Optional.ofNullable(TABLES.get(n)));
  }

  /** Runs the split as the cluster would, on one DuckDB, and compares it with the query itself. */
  private static FragmentPlanner.Plan assertSplitEqualsWhole(String sql) throws SQLException {
    CalcitePlanner.Outcome o = plan(sql);
    assertTrue(o.plan().isPresent(), sql + ": " + o.reason());
    FragmentPlanner.Plan p = o.plan().get();
    runFragments(p);
    assertEquals(rows(sql), rows(p.finalSql("partials", null, null)), sql + "\n" + p);
    return p;
  }

  /**
   * Runs the stages as the cluster would, on one DuckDB: each stage's split, its final rows kept in
   * a table named like the stage (with the columns of its own SQL), then the rest's split; compares
   * the result with the query itself.
   */
  private static CalcitePlanner.Staged assertStagesEqualWhole(String sql) throws SQLException {
    CalcitePlanner.StagedOutcome o = CalcitePlanner.staged(sql, n -> Optional.ofNullable(TABLES.get(n)));
    assertTrue(o.staged().isPresent(), sql + ": " + o.reason());
    try (Statement s = db.createStatement()) {
      for (CalcitePlanner.Stage stage : o.staged().get().stages()) {
        runFragments(stage.plan());
        List<String> names = new ArrayList<>();
        try (ResultSet rs = s.executeQuery("DESCRIBE " + stage.sql())) {
          while (rs.next()) {
            names.add(FragmentPlanner.quote(rs.getString(1)));
          }
        }
        s.execute("CREATE OR REPLACE TABLE " + FragmentPlanner.quote(stage.name()) + " AS SELECT * FROM ("
            + stage.plan().finalSql("partials", null, null) + ") AS t(" + String.join(", ", names) + ")");
      }
    }
    FragmentPlanner.Plan rest = o.staged().get().rest();
    runFragments(rest);
    assertEquals(rows(sql), rows(rest.finalSql("partials", null, null)), sql + "\n" + o.staged().get());
    return o.staged().get();
  }

  /**
   * The fragments of {@code p}, their rows into table {@code partials}: one per hash bucket, or one
   * over every row when the anchor is replicated.
   */
  private static void runFragments(FragmentPlanner.Plan p) throws SQLException {
    boolean replicatedAnchor = TABLES.get(p.anchor()).partitionColumn() == null;
    try (Statement s = db.createStatement()) {
      s.execute("DROP TABLE IF EXISTS partials");
      for (int f = 0; f < (replicatedAnchor ? 1 : FRAGMENTS); f++) {
        // the fragment as a node runs it (Plan.fragment): its shards of the co-located tables under their own
        // names, here views over the rows whose key hashes to it; each shuffled table as the rows routed to it
        Map<String, List<String>> shards = new LinkedHashMap<>();
        for (String g : p.grouped()) {
          String shard = "__shard_" + g + "_" + f;
          s.execute("CREATE OR REPLACE VIEW " + shard + " AS SELECT * FROM main." + g + (replicatedAnchor ? ""
              : " WHERE hash(" + TABLES.get(g).partitionColumn() + ") % " + FRAGMENTS + " = " + f));
          shards.put(g, List.of(shard));
        }
        Map<String, String> routed = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : p.shuffled().entrySet()) {
          s.execute("CREATE OR REPLACE VIEW " + FragmentPlanner.Plan.PULL_PREFIX + e.getKey() + " AS SELECT * FROM "
              + "main." + e.getKey());
          routed.put(e.getKey(), "hash(" + e.getValue() + ") % " + FRAGMENTS + " = " + f);
        }
        s.execute((f == 0 ? "CREATE TABLE partials AS " : "INSERT INTO partials ") + p.fragment(shards, routed));
      }
    }
  }

  private static List<String> rows(String sql) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          Object v = rs.getObject(i);
          if (v instanceof Double d) {
            v = Math.round(d * 1e6) / 1e6;
          } else if (v instanceof java.math.BigDecimal d) {
            v = d.stripTrailingZeros().toPlainString();
          }
          b.append(v).append('|');
        }
        out.add(b.toString());
      }
    }
    return out;
  }

  @Test
  void aggregatesSplitIntoPartialAndFinal() throws SQLException {
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_region, count(*) AS n, count(l_qty) AS q, "
        + "sum(l_price) AS s, avg(l_qty) AS a, avg(l_price) AS ap, min(o_date) AS first, max(l_no) AS last FROM orders "
        + "JOIN lines ON o_id = l_order GROUP BY o_region ORDER BY o_region");
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.combine());
    assertEquals(List.of("lines", "orders"), p.grouped());
    assertTrue(p.finalQuery().contains("CAST(SUM("), p.finalQuery()); // AVG as SUM / COUNT, divided as doubles
    assertSplitEqualsWhole("SELECT sum(l_price) AS s, count(*) AS n FROM lines WHERE l_qty > 2");
    assertSplitEqualsWhole("SELECT o_user, sum(o_total) AS t FROM orders GROUP BY o_user HAVING sum(o_total) > 400 "
        + "ORDER BY t DESC, o_user LIMIT 7");
  }

  @Test
  void groupingSetsRollupAndCubeGroupTheFragmentsPartialGroups() throws SQLException {
    FragmentPlanner.Plan rollup = assertSplitEqualsWhole("SELECT o_region, o_user % 3 AS g, count(*) AS n, "
        + "sum(l_price) AS s, avg(l_qty) AS a, min(o_date) AS first, grouping(o_region) AS gr FROM orders JOIN lines "
        + "ON o_id = l_order GROUP BY ROLLUP (o_region, o_user % 3) ORDER BY o_region, g");
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, rollup.combine(), rollup.toString());
    assertSplitEqualsWhole("SELECT o_region, l_qty, count(l_qty) AS n, max(l_price) AS m FROM orders JOIN lines ON "
        + "o_id = l_order GROUP BY CUBE (o_region, l_qty) ORDER BY o_region, l_qty, n");
    // a set holding the key is not complete per fragment either: the other sets span the fragments
    assertSplitEqualsWhole("SELECT o_id, o_region, sum(o_total) AS t FROM orders GROUP BY GROUPING SETS ((o_id), "
        + "(o_region), ()) ORDER BY o_id, o_region");
  }

  @Test
  void setOperationsOfSplitRowsBecomeAggregatesOverUnionAll() throws SQLException {
    FragmentPlanner.Plan keyed = assertSplitEqualsWhole("SELECT o_id FROM orders WHERE o_total > 90 UNION SELECT "
        + "l_order FROM lines WHERE l_qty = 1 ORDER BY o_id");
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, keyed.combine(), keyed.toString());
    assertSplitEqualsWhole("SELECT o_user FROM orders WHERE o_total > 90 UNION SELECT l_qty FROM lines ORDER BY 1");
    // INTERSECT and EXCEPT: every copy of a row on one fragment when the split inputs share a key column
    assertSplitEqualsWhole("SELECT o_id, o_region FROM orders WHERE o_id < 900 EXCEPT SELECT l_order, l_qty FROM lines "
        + "WHERE l_price > 29 ORDER BY 1, 2");
    assertSplitEqualsWhole("SELECT l_order, l_qty FROM lines INTERSECT SELECT o_id, o_region FROM orders "
        + "INTERSECT SELECT c_order, 3 FROM coupons ORDER BY 1");
    assertSplitEqualsWhole("SELECT o_id, o_region FROM orders EXCEPT ALL SELECT c_order, 1 FROM coupons ORDER BY 1");
    assertDeclined("SELECT o_user, o_region FROM orders INTERSECT SELECT l_qty, o_region FROM lines, orders "
        + "WHERE l_order = o_id", "no shard key column in common");
    assertDeclined("SELECT r_id FROM regions EXCEPT SELECT o_region FROM orders", "no shard key column in common");
  }

  @Test
  void distinctAggregatesAreDeduplicatedPerFragmentAndAgain() throws SQLException {
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_region, count(DISTINCT o_user) AS users FROM orders "
        + "GROUP BY o_region ORDER BY o_region");
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.combine());
    assertSplitEqualsWhole("SELECT count(DISTINCT l_qty) AS n FROM lines");
  }

  @Test
  void groupsHoldingTheKeyAreCompleteAndTopNIsPushedDown() throws SQLException {
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_id, sum(l_price) AS s FROM orders JOIN lines ON "
        + "l_order = o_id GROUP BY o_id ORDER BY s DESC, o_id LIMIT 5 OFFSET 3");
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, p.combine());
    assertTrue(p.partialSql().contains("FETCH NEXT 8 ROWS ONLY") || p.partialSql().contains("LIMIT 8"),
        p.partialSql()); // each fragment keeps OFFSET + LIMIT rows
    assertSplitEqualsWhole("SELECT o_id, o_total FROM orders WHERE o_total > 90 ORDER BY o_id");
    // DuckDB sorts NULLs last in both directions (Calcite's default puts them first in DESC)
    p = assertSplitEqualsWhole("SELECT l_no, l_qty FROM lines ORDER BY l_qty DESC, l_no LIMIT 2000");
    assertTrue(!p.partialSql().contains("NULLS FIRST"), p.partialSql());
    assertSplitEqualsWhole("SELECT l_no, l_qty FROM lines ORDER BY l_qty DESC NULLS FIRST, l_no LIMIT 20");
  }

  @Test
  void joinsKeepRowsOnOneFragment() throws SQLException {
    // a replicated table and a small partitioned one read whole; a large one of another group shuffled
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT r_name, n_kind, count(*) AS n FROM orders, regions, "
        + "notes, coupons WHERE o_region = r_id AND n_order = o_id AND c_order = o_id GROUP BY r_name, n_kind "
        + "ORDER BY r_name, n_kind");
    assertEquals(Map.of("notes", "n_order"), p.shuffled());
    assertTrue(p.broadcast().containsAll(List.of("regions", "coupons")), p.broadcast().toString());
    assertSplitEqualsWhole("SELECT o_region, count(l_no) AS n FROM orders LEFT JOIN lines ON o_id = l_order AND "
        + "l_qty = 4 GROUP BY o_region ORDER BY o_region");
    // placed on Calcite's decorrelated joins, written as the query has it: DuckDB decorrelates EXISTS itself
    p = assertSplitEqualsWhole("SELECT count(*) AS n FROM orders WHERE EXISTS (SELECT 1 FROM lines WHERE l_order = "
        + "o_id AND l_qty = 3) AND NOT EXISTS (SELECT 1 FROM lines WHERE l_order = o_id AND l_qty = 1)");
    assertTrue(p.partialSql().contains("NOT EXISTS (SELECT"), p.partialSql());
    // also beside an IN list (folded back from ORs only in filters without a sub-query, as in TPC-H Q21)
    p = assertSplitEqualsWhole("SELECT o_region, count(*) AS n FROM orders, regions WHERE o_region = r_id AND "
        + "r_name IN ('region 1', 'region 2', 'region 3') AND EXISTS (SELECT 1 FROM lines WHERE l_order = o_id AND "
        + "l_qty = 3) GROUP BY o_region ORDER BY o_region");
    assertTrue(p.partialSql().contains("EXISTS (SELECT"), p.partialSql());
    p = assertSplitEqualsWhole("SELECT count(*) AS n FROM lines WHERE l_qty IN (1, 2) OR l_qty = 4");
    assertTrue(p.partialSql().contains("IN (1, 2, 4)"), p.partialSql());
    assertSplitEqualsWhole("SELECT o_region, sum(o_total) AS t FROM orders WHERE o_total > (SELECT avg(l_price) FROM "
        + "lines WHERE l_order = o_id) GROUP BY o_region ORDER BY o_region");
  }

  @Test
  void joinsOnOtherColumnsHashShuffleEverySide() throws SQLException {
    // no shard key in the join: both sides are routed by hash of their join column into one bucket per fragment
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_user, count(*) AS n, sum(l_price) AS s FROM orders "
        + "JOIN lines ON o_user = l_no GROUP BY o_user ORDER BY o_user");
    assertTrue(p.repartitioned() && p.grouped().isEmpty(), p.toString());
    assertEquals(List.of("lines", "orders"), List.copyOf(p.shuffled().keySet())); // the anchor first
    assertEquals("l_no", p.shuffled().get("lines"));
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, p.combine()); // grouped by the bucket column
    // a self-join on another column than the key, and a LEFT JOIN
    p = assertSplitEqualsWhole("SELECT a.o_region, count(*) AS n FROM orders a JOIN orders b ON a.o_user = b.o_user "
        + "AND a.o_id < b.o_id GROUP BY a.o_region ORDER BY a.o_region");
    assertEquals(Map.of("orders", "o_user"), p.shuffled());
    assertSplitEqualsWhole("SELECT o_region, count(l_no) AS n FROM orders LEFT JOIN lines ON o_user = l_no AND "
        + "l_qty = 2 GROUP BY o_region ORDER BY o_region");
    p = assertSplitEqualsWhole("SELECT u_tier, count(*) AS n FROM orders, users WHERE o_user = u_id GROUP BY u_tier "
        + "ORDER BY u_tier");
    assertEquals(Map.of("orders", "o_user", "users", "u_id"), p.shuffled());
    // a small table stays broadcast
    p = assertSplitEqualsWhole("SELECT r_name, count(*) AS n FROM orders JOIN lines ON o_user = l_no JOIN regions ON "
        + "o_region = r_id GROUP BY r_name ORDER BY r_name");
    assertEquals(List.of("regions"), p.broadcast());
  }

  @Test
  void outerJoinsKeepingAWholeSideAreRegroupedByTheFinalAggregation() throws SQLException {
    // regions (replicated) LEFT JOIN orders (split): each fragment adds a null-extended row for a region whose
    // orders are elsewhere; aggregates of the orders' values ignore it, the final aggregation adds the groups up
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT r_name, count(o_id) AS n, sum(o_total) AS t, "
        + "avg(o_total) AS a, max(o_date) AS last, min(o_total * 2) AS low FROM regions LEFT JOIN orders ON r_id = "
        + "o_region AND o_total > 90 AND o_region < 6 GROUP BY r_name ORDER BY r_name");
    assertTrue(p.regrouped() && p.combine() == FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.toString());
    // TPC-H Q13's shape: the counts per kept row, then an aggregate of those counts on the coordinator
    assertSplitEqualsWhole("SELECT c, count(*) AS k FROM (SELECT r_id, count(o_id) AS c FROM regions LEFT JOIN "
        + "orders ON r_id = o_region AND o_total > 90 AND o_region < 6 GROUP BY r_id) AS t GROUP BY c ORDER BY c");
    // what a null-extended row would change
    assertDeclined("SELECT r_name, count(*) FROM regions LEFT JOIN orders ON r_id = o_region GROUP BY r_name",
        "counts the kept side");
    assertDeclined("SELECT o_user, count(r_id) FROM regions LEFT JOIN orders ON r_id = o_region GROUP BY o_user",
        "a GROUP BY on the null-supplying side");
    assertDeclined("SELECT r_name, count(o_id) FROM regions LEFT JOIN orders ON r_id = o_region WHERE o_total IS NULL "
        + "GROUP BY r_name", "a condition on the null-supplying side");
    assertDeclined("SELECT r_name, count(DISTINCT o_user) FROM regions LEFT JOIN orders ON r_id = o_region "
        + "GROUP BY r_name", "counts the kept side");
    assertDeclined("SELECT r_name, o_id FROM regions LEFT JOIN orders ON r_id = o_region",
        "an outer join that keeps every row of a side each fragment reads whole");
  }

  @Test
  void literalConditionsOnTheShardKeyPruneShards() throws SQLException {
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_id, count(*) AS n FROM orders JOIN lines ON "
        + "o_id = l_order WHERE o_id IN (3, 5) GROUP BY o_id ORDER BY o_id");
    assertEquals(List.of("3", "5"), p.keyRestriction().orElseThrow().equals());
    p = assertSplitEqualsWhole("SELECT count(*) AS n FROM lines WHERE l_order BETWEEN 10 AND 20");
    assertEquals("10", p.keyRestriction().orElseThrow().lower());
    assertEquals("20", p.keyRestriction().orElseThrow().upper());
    // the anchor under the null-supplying side of an outer join: no pruning
    p = assertSplitEqualsWhole("SELECT count(l_no) AS n FROM orders LEFT JOIN lines ON o_id = l_order AND l_order = 7");
    assertTrue(p.keyRestriction().isEmpty(), p.toString());
  }

  @Test
  void aggregatesTheOneExchangeCannotPlaceRunFirstAsStages() throws SQLException {
    // a scalar sub-query's aggregate: one row, sent to every fragment of the rest (complete groups)
    String having = "SELECT o_id, sum(l_price) AS s FROM orders JOIN lines ON o_id = l_order GROUP BY o_id "
        + "HAVING sum(l_price) > (SELECT avg(l_price) * 5 FROM lines) ORDER BY s DESC, o_id LIMIT 20";
    assertTrue(plan(having).plan().isEmpty(), "needs a stage");
    CalcitePlanner.Staged st = assertStagesEqualWhole(having);
    assertEquals(1, st.stages().size(), st.toString());
    assertTrue(st.rest().partialSql().contains("\"" + CalcitePlanner.STAGE_PREFIX + "1\""), st.rest().partialSql());
    // a correlated aggregate (TPC-H Q17's shape): computed only for the groups the filtered regions can join
    CalcitePlanner.Staged q17 = assertStagesEqualWhole("SELECT sum(o_total) AS t FROM orders, regions WHERE "
        + "o_region = r_id AND r_name LIKE 'region 1%' AND o_total < (SELECT 0.8 * avg(o2.o_total) FROM orders o2 "
        + "WHERE o2.o_region = r_id)");
    assertTrue(q17.stages().get(0).sql().contains("LIKE 'region 1%'"), q17.stages().get(0).sql());
    // several sub-queries, NOT EXISTS among them; NULLs in the correlated column
    assertStagesEqualWhole("SELECT u_tier, count(*) AS n FROM users WHERE u_id % 5 = 0 AND NOT EXISTS (SELECT 1 "
        + "FROM orders WHERE o_user = u_id AND o_total > 50) AND u_tier < (SELECT max(o_region) FROM orders) "
        + "GROUP BY u_tier ORDER BY u_tier");
    assertStagesEqualWhole("SELECT l_order, l_no FROM lines WHERE l_qty = (SELECT max(l2.l_qty) FROM lines l2 "
        + "WHERE l2.l_price = lines.l_price) AND l_no < 300 ORDER BY l_no");
    // the rest reads only a replicated table and a stage: one fragment runs it
    CalcitePlanner.Staged one = assertStagesEqualWhole("SELECT r_name FROM regions WHERE r_id IN (SELECT o_region "
        + "FROM orders GROUP BY o_region HAVING count(*) > 300) ORDER BY r_name");
    assertEquals("regions", one.rest().anchor(), one.toString());
  }

  @Test
  void windowFunctionsPartitionedByAShardKeyRunPerFragment() throws SQLException {
    FragmentPlanner.Plan p = assertSplitEqualsWhole("SELECT o_id, l_no, rank() OVER (PARTITION BY o_id ORDER BY "
        + "l_price DESC, l_no) AS r, sum(l_price) OVER (PARTITION BY l_order, o_region) AS s FROM orders JOIN lines ON "
        + "o_id = l_order WHERE o_user < 50 ORDER BY o_id, l_no");
    assertEquals(FragmentPlanner.Combine.CONCATENATE, p.combine(), p.toString());
    assertTrue(p.partialSql().contains("OVER (PARTITION BY"), p.partialSql());
    // an aggregate right over them is declined (Calcite would write the window function into the GROUP BY)
    assertDeclined("SELECT r, count(*) AS n FROM (SELECT l_order, row_number() OVER (PARTITION BY l_order "
        + "ORDER BY l_no) AS r FROM lines) t GROUP BY r ORDER BY r", "an aggregate directly over window functions");
    // cut to the first rows per fragment, then on the coordinator
    assertSplitEqualsWhole("SELECT l_order, l_no, lag(l_price) OVER (PARTITION BY l_order ORDER BY l_no) AS earlier "
        + "FROM lines ORDER BY earlier DESC NULLS LAST, l_no LIMIT 7");
  }

  @Test
  void declinesWhatOneExchangeCannotDoWithAReason() {
    assertDeclined("SELECT o_user, count(*) FROM orders JOIN lines ON o_user < l_no GROUP BY o_user",
        "does not equate their shard keys");
    assertDeclined("SELECT r_name, count(l_no) FROM regions LEFT JOIN orders ON r_id = o_region LEFT JOIN lines ON "
        + "o_id = l_order GROUP BY r_name", "an outer join that keeps every row of a side each fragment reads whole");
    assertDeclined("SELECT o_user, sum(o_total) FROM orders GROUP BY o_user HAVING sum(o_total) > (SELECT avg(o_total) "
        + "FROM orders)", "needs more than one exchange");
    assertDeclined("SELECT o_id, rank() OVER (PARTITION BY o_user ORDER BY o_total) FROM orders",
        "window functions over split rows, not partitioned by a shard key");
    assertDeclined("SELECT r_name FROM regions", "no partitioned table");
    assertDeclined("SELECT u_tier, count(*) FROM orders, users WHERE o_user < u_id GROUP BY u_tier",
        "table users is not joined on a shard key");
    assertDeclined("SELECT list(o_id) FROM orders", "Calcite cannot analyze it");
    assertDeclined("SELECT o_region, stddev_pop(o_total) FROM orders GROUP BY o_region", "cannot be split");
  }

  private static void assertDeclined(String sql, String reason) {
    CalcitePlanner.Outcome o = plan(sql);
    assertTrue(o.plan().isEmpty() && o.reason().contains(reason), sql + " -> " + o);
  }
}
