package io.quiver.coordinator.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FragmentPlannerTest {
  private static final Set<String> AGGREGATES = Set.of("sum", "count", "min", "max", "avg", "string_agg", "median");
  // orders and lineitem co-located on the order key; customer hashed on its own key; nation replicated
  private static final Map<String, FragmentPlanner.TableInfo> TABLES = Map.of(
      "orders", new FragmentPlanner.TableInfo("orders", Set.of("o_orderkey", "o_custkey", "o_total"), "o_orderkey",
          "g1", 1_000),
      "lineitem", new FragmentPlanner.TableInfo("lineitem", Set.of("l_orderkey", "l_partkey", "l_qty"), "l_orderkey",
          "g1", 4_000),
      "customer", new FragmentPlanner.TableInfo("customer", Set.of("c_custkey", "c_name", "c_nation"), "c_custkey",
          "g2", 100),
      "nation", new FragmentPlanner.TableInfo("nation", Set.of("n_nationkey", "n_name"), null, "g3", 25),
      "parts", new FragmentPlanner.TableInfo("parts", Set.of("p_key", "p_brand"), "p_key", "g4", 2_000));

  private static Optional<FragmentPlanner.Plan> plan(String sql) {
    return FragmentPlanner.plan(sql, n -> Optional.ofNullable(TABLES.get(n)), AGGREGATES);
  }

  @Test
  void coLocatedJoinOnTheKeyIsSplitAndOtherTablesAreBroadcast() {
    FragmentPlanner.Plan p = plan("SELECT c_name, sum(l_qty) AS q FROM customer, orders, lineitem "
        + "WHERE c_custkey = o_custkey AND o_orderkey = l_orderkey GROUP BY c_name ORDER BY q DESC LIMIT 3").orElseThrow();
    assertEquals("lineitem", p.anchor());
    assertEquals(List.of("orders", "lineitem"), p.grouped());
    assertEquals(List.of("customer"), p.broadcast());
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.combine());
    assertEquals("SELECT c_name AS \"c_name\", sum(l_qty) AS __quiver_a0 FROM customer, orders, lineitem "
        + "WHERE c_custkey = o_custkey AND o_orderkey = l_orderkey GROUP BY c_name", p.partialSql());
    assertEquals("SELECT c_name, sum(__quiver_a0) AS q FROM x GROUP BY \"c_name\" ORDER BY q DESC LIMIT 3",
        p.finalSql("x", null, null));
    Map<String, List<String>> shards = new java.util.LinkedHashMap<>();
    shards.put("orders", List.of("orders_0", "orders_2"));
    shards.put("lineitem", List.of("lineitem_0", "lineitem_2"));
    assertEquals("WITH \"orders\" AS NOT MATERIALIZED (SELECT * FROM \"orders_0\" UNION ALL SELECT * FROM "
        + "\"orders_2\"), \"lineitem\" AS NOT MATERIALIZED (SELECT * FROM \"lineitem_0\" UNION ALL SELECT * FROM "
        + "\"lineitem_2\") " + p.partialSql(), p.fragment(shards, Map.of()));
  }

  @Test
  void joinsOnOtherColumnsThanTheKeysHashShuffleBothSides() {
    // orders and lineitem joined on columns that are not their shard key: both are repartitioned on them
    FragmentPlanner.Plan p = plan("SELECT o_total, count(*) AS n FROM orders, lineitem WHERE o_custkey = l_partkey "
        + "AND o_orderkey IN (1, 2) GROUP BY o_total").orElseThrow();
    assertTrue(p.repartitioned());
    assertEquals("lineitem", p.anchor());
    assertEquals(List.of(), p.grouped());
    assertEquals("{lineitem=l_partkey, orders=o_custkey}", p.shuffled().toString());
    assertEquals(Optional.empty(), p.keyRestriction(), "no shard pruning: the fragments read buckets, not shards");
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.combine());
    assertTrue(p.strategy().startsWith("hash-shuffled join: every side repartitioned by hash of its join column into "
        + "one bucket per fragment: lineitem on l_partkey, orders on o_custkey;"), p.strategy());
    assertEquals("WITH \"lineitem\" AS NOT MATERIALIZED (SELECT * FROM \"__quiver_pull_lineitem\"), \"orders\" AS NOT "
        + "MATERIALIZED (SELECT * FROM \"__quiver_pull_orders\") " + p.partialSql(), p.fragment(Map.of(),
        new java.util.LinkedHashMap<>(Map.of("lineitem", "")) {
          {
            put("orders", "");
          }
        }));
    // a self-join on another column: one table, bucketed once; groups on that column are complete in one bucket
    p = plan("SELECT o1.o_custkey, count(*) AS n FROM orders o1 JOIN orders o2 ON o1.o_custkey = o2.o_custkey "
        + "AND o1.o_orderkey < o2.o_orderkey GROUP BY o1.o_custkey").orElseThrow();
    assertEquals("{orders=o_custkey}", p.shuffled().toString());
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, p.combine());
    assertTrue(p.strategy().contains("the GROUP BY holds the join column the rows are bucketed by"), p.strategy());
    // a partitioned table the plain plan would broadcast, with at least half the anchor's rows
    p = plan("SELECT p_brand, count(*) AS n FROM lineitem, parts, nation WHERE l_partkey = p_key AND l_qty = "
        + "n_nationkey GROUP BY p_brand").orElseThrow();
    assertEquals("{lineitem=l_partkey, parts=p_key}", p.shuffled().toString());
    assertEquals(List.of("nation"), p.broadcast());
    // a LEFT JOIN whose right side is shuffled on the column the ON equates with the left side's bucket column
    p = plan("SELECT p_brand, count(l_qty) AS n FROM lineitem LEFT JOIN parts ON p_key = l_partkey GROUP BY p_brand")
        .orElseThrow();
    assertEquals("{lineitem=l_partkey, parts=p_key}", p.shuffled().toString());
    assertTrue(p.repartitioned());
    // one-sided: the ON ties the right side to the anchor's shard key, so it is shuffled onto the anchor's shards
    p = plan("SELECT l_qty, count(p_brand) AS n FROM lineitem LEFT JOIN parts ON p_key = l_orderkey GROUP BY l_qty")
        .orElseThrow();
    assertTrue(!p.repartitioned() && p.shuffled().equals(Map.of("parts", "p_key")) && p.broadcast().isEmpty(),
        p.strategy());
    // but not when the right side is tied to a shuffled table on the left (its NULL keys would go to no fragment)
    assertTrue(plan("SELECT count(c_name) AS n FROM lineitem JOIN orders ON o_custkey = l_orderkey LEFT JOIN customer "
        + "ON c_custkey = o_custkey").map(x -> !x.shuffled().containsKey("customer")).orElse(true));
    // a small partitioned table stays broadcast
    p = plan("SELECT count(*) FROM lineitem, customer WHERE l_partkey = c_custkey").orElseThrow();
    assertTrue(!p.repartitioned() && p.broadcast().equals(List.of("customer")), p.strategy());
    // two reads of lineitem tied to customer by different columns: no one column buckets both alike
    assertTrue(plan("SELECT count(*) FROM lineitem l1, lineitem l2, customer WHERE l1.l_partkey = c_custkey "
        + "AND l2.l_partkey = c_nation").isEmpty());
    // a subquery on the shards tied to the outer rows by another column than that of the buckets
    assertTrue(plan("SELECT count(*) FROM orders o1, orders o2 WHERE o1.o_custkey = o2.o_custkey AND o1.o_total > "
        + "(SELECT avg(o_total) FROM orders o3 WHERE o3.o_orderkey = o1.o_orderkey)").isEmpty());
  }

  @Test
  void aDerivedTableIsSplitOnItsOwnAndTheQueryRunsOverItsCombinedRows() {
    FragmentPlanner.Plan p = plan("SELECT n, count(*) AS k FROM (SELECT o_custkey, count(*) AS n FROM orders GROUP BY "
        + "o_custkey) x GROUP BY n ORDER BY k DESC").orElseThrow();
    assertEquals("SELECT o_custkey AS \"o_custkey\", count(*) AS __quiver_a0 FROM orders GROUP BY o_custkey",
        p.partialSql());
    assertEquals("SELECT n, count(*) AS k FROM (SELECT o_custkey, CAST(coalesce(sum(__quiver_a0), 0) AS BIGINT) AS n "
        + "FROM x GROUP BY \"o_custkey\") x GROUP BY n ORDER BY k DESC", p.finalSql("x", List.of("n", "k"), null));
    assertTrue(p.strategy().endsWith("; the outer query runs on the coordinator over the derived table's combined "
        + "rows"), p.strategy());
    // nested: the innermost derived table is split
    p = plan("SELECT max(k) FROM (SELECT n, count(*) AS k FROM (SELECT o_custkey, count(*) AS n FROM orders GROUP BY "
        + "o_custkey) x GROUP BY n) y").orElseThrow();
    assertEquals("SELECT max(k) FROM (SELECT n, count(*) AS k FROM (SELECT o_custkey, CAST(coalesce(sum(__quiver_a0), "
        + "0) AS BIGINT) AS n FROM x GROUP BY \"o_custkey\") x GROUP BY n) y", p.finalSql("x", null, null));
    // the outer query reads nothing else
    assertTrue(plan("SELECT n FROM (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) x WHERE n > "
        + "(SELECT count(*) FROM customer)").isEmpty());
  }

  @Test
  void aLeftJoinOfTheShardsToATableReadWholeIsRegroupedWhenNullExtendedRowsChangeNothing() {
    // TPC-H Q13: each node counts the orders it holds per customer; the coordinator adds the counts up
    String q13 = "SELECT c_count, count(*) AS custdist FROM (SELECT c_custkey, count(o_orderkey) AS c_count FROM "
        + "customer LEFT OUTER JOIN orders ON c_custkey = o_custkey AND o_total > 5 GROUP BY c_custkey) AS c_orders "
        + "GROUP BY c_count ORDER BY custdist DESC";
    FragmentPlanner.Plan p = plan(q13).orElseThrow();
    assertEquals("orders", p.anchor());
    assertEquals(List.of("customer"), p.broadcast());
    assertEquals(FragmentPlanner.Combine.PARTIAL_AGGREGATE, p.combine());
    assertTrue(p.regrouped() && p.strategy().contains("(the LEFT JOIN of the shards to a table read whole runs on "
        + "each node over the matches it holds;"), p.strategy());
    assertEquals("SELECT c_custkey AS \"c_custkey\", count(o_orderkey) AS __quiver_a0 FROM customer LEFT OUTER JOIN "
        + "orders ON c_custkey = o_custkey AND o_total > 5 GROUP BY c_custkey", p.partialSql());
    assertEquals("SELECT c_count, count(*) AS custdist FROM (SELECT c_custkey, CAST(coalesce(sum(__quiver_a0), 0) AS "
        + "BIGINT) AS c_count FROM x GROUP BY \"c_custkey\") AS c_orders GROUP BY c_count ORDER BY custdist DESC",
        p.finalSql("x", null, null));
    assertTrue(plan("SELECT c_name, sum(o_total) AS t, max(o.o_orderkey) AS m, avg(o_total) AS a FROM customer c "
        + "LEFT JOIN orders o ON c.c_custkey = o.o_custkey JOIN nation ON c_nation = n_nationkey WHERE n_name <> 'X' "
        + "GROUP BY c_name HAVING count(o_orderkey) > 1").isPresent());
    // shapes where a null-extended row on each node would change the result
    String from = " FROM customer LEFT JOIN orders ON c_custkey = o_custkey";
    assertTrue(plan("SELECT c_name, count(*) AS n" + from + " GROUP BY c_name").isEmpty(), "count(*)");
    assertTrue(plan("SELECT c_name, count(o_orderkey) AS n, sum(c_nation) AS s" + from + " GROUP BY c_name").isEmpty(),
        "an aggregate of the left side");
    assertTrue(plan("SELECT c_name, count(o_orderkey + c_nation) AS n" + from + " GROUP BY c_name").isEmpty(),
        "an aggregate reading both sides");
    assertTrue(plan("SELECT c_name, sum(o_total * (1 - o_orderkey)) AS n, count(1) AS k" + from + " GROUP BY c_name")
        .isEmpty(), "count(1) counts a null-extended row");
    assertTrue(plan("SELECT c_name, count(CASE WHEN o_orderkey IS NULL THEN 1 END) AS n" + from + " GROUP BY c_name")
        .isEmpty(), "an expression that is not NULL on a null-extended row");
    assertTrue(plan("SELECT c_name, sum(coalesce(o_total, 0)) AS n" + from + " GROUP BY c_name").isEmpty());
    assertTrue(plan("SELECT c_name, sum(o_total * (1 - o_orderkey)) AS n" + from + " GROUP BY c_name").isPresent(),
        "arithmetic stays NULL");
    assertTrue(plan("SELECT c_name, count(o_orderkey) AS n FROM customer LEFT JOIN orders ON c_custkey = o_custkey, "
        + "(SELECT l_partkey FROM lineitem LIMIT 1) x GROUP BY c_name").isEmpty(), "a derived table over shards");
    assertTrue(plan("SELECT o_total, count(o_orderkey) AS n" + from + " GROUP BY o_total").isEmpty(),
        "grouped by the right side");
    assertTrue(plan("SELECT c_name, count(o_orderkey) AS n" + from + " WHERE o_total IS NULL GROUP BY c_name")
        .isEmpty(), "a condition on the right side outside the ON");
    assertTrue(plan("SELECT c_name, o_orderkey" + from).isEmpty(), "no aggregation");
    assertTrue(plan("SELECT c_name, count(o_orderkey) FILTER (WHERE c_nation = 1) AS n" + from + " GROUP BY c_name")
        .isEmpty(), "FILTER");
    assertTrue(plan("SELECT c_name, count(DISTINCT o_orderkey) AS n" + from + " GROUP BY c_name").isEmpty());
    assertTrue(plan("SELECT c_name, count(o_orderkey) AS n" + from + " WHERE c_custkey IN (SELECT o_custkey FROM "
        + "orders) GROUP BY c_name").isEmpty(), "a subquery");
  }

  @Test
  void groupsHoldingTheShardKeyAreCompleteOnOneNode() {
    FragmentPlanner.Plan p = plan("SELECT o.o_orderkey, count(*) AS n FROM orders o JOIN lineitem l ON "
        + "l.l_orderkey = o.o_orderkey GROUP BY o.o_orderkey ORDER BY n DESC LIMIT 5 OFFSET 2").orElseThrow();
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, p.combine());
    assertTrue(p.partialSql().endsWith("ORDER BY n DESC LIMIT (5) + (2)"), p.partialSql());
    assertEquals("SELECT * FROM x ORDER BY n DESC LIMIT 5 OFFSET 2", p.finalSql("x", null, null));
    FragmentPlanner.Plan offsetFirst = plan("SELECT o_orderkey FROM orders ORDER BY o_orderkey OFFSET 2 LIMIT 5")
        .orElseThrow();
    assertEquals("SELECT o_orderkey FROM orders ORDER BY o_orderkey LIMIT (5) + (2)", offsetFirst.partialSql());
  }

  @Test
  void averagesAndCountsAreSplitIntoSumsAndCounts() {
    FragmentPlanner.Plan p = plan("SELECT avg(l_qty) AS a, count(l_partkey) FILTER (WHERE l_qty > 1) AS c "
        + "FROM lineitem").orElseThrow();
    assertEquals("SELECT sum(l_qty) AS __quiver_a0s, count(l_qty) AS __quiver_a0c, count(l_partkey) FILTER "
        + "(WHERE l_qty > 1) AS __quiver_a1 FROM lineitem", p.partialSql());
    assertEquals("SELECT (CAST(sum(__quiver_a0s) AS DOUBLE) / CAST(sum(__quiver_a0c) AS DOUBLE)) AS a, "
        + "CAST(coalesce(sum(__quiver_a1), 0) AS BIGINT) AS c FROM x", p.finalSql("x", null, null));
  }

  @Test
  void subqueriesTiedToTheShardKeyStayLocal() {
    assertTrue(plan("SELECT count(*) AS n FROM orders WHERE EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = "
        + "o_orderkey AND l_qty > 5)").isPresent());
    assertTrue(plan("SELECT count(*) AS n FROM orders WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY "
        + "l_orderkey HAVING sum(l_qty) > 10)").isPresent());
    assertTrue(plan("SELECT count(*) AS n FROM orders WHERE o_custkey IN (SELECT c_custkey FROM customer)")
        .isPresent(), "a subquery over a broadcast table sees all of it");
  }

  @Test
  void shapesThatCouldGiveWrongResultsDecline() {
    // two shard-table reads not tied by their keys nor by an equality (both sides cannot be bucketed alike)
    assertTrue(plan("SELECT count(*) FROM orders, lineitem WHERE o_custkey < l_partkey").isEmpty());
    // a subquery over the shards not tied to the outer row's key (it would see one node's rows only)
    assertTrue(plan("SELECT count(*) FROM orders WHERE o_total > (SELECT avg(l_qty) FROM lineitem)").isEmpty());
    assertTrue(plan("SELECT count(*) FROM lineitem l1 WHERE l_qty > (SELECT avg(l_qty) FROM lineitem l2 "
        + "WHERE l2.l_partkey = l1.l_partkey)").isEmpty());
    // IN over groups that are not the key's
    assertTrue(plan("SELECT count(*) FROM orders WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY "
        + "l_orderkey, l_partkey HAVING count(*) > 1)").isPresent());
    assertTrue(plan("SELECT count(*) FROM orders WHERE o_orderkey IN (SELECT max(l_orderkey) FROM lineitem GROUP BY "
        + "l_partkey)").isEmpty());
    // an equality under OR is no join condition
    assertTrue(plan("SELECT count(*) FROM orders, lineitem WHERE o_orderkey = l_orderkey OR l_qty > 1").isEmpty());
    // aggregated derived table over shards, grouped by something else than the key, beside another table
    assertTrue(plan("SELECT n, count(*) FROM (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) x, "
        + "nation WHERE n = n_nationkey GROUP BY n").isEmpty());
    // a LIMIT inside a derived table picks rows per node
    assertTrue(plan("SELECT count(*) FROM orders, (SELECT l_orderkey FROM lineitem LIMIT 5) d "
        + "WHERE d.l_orderkey = o_orderkey").isEmpty());
    // outer joins, set operations, window functions, CTEs, parameters
    assertTrue(plan("SELECT o_orderkey FROM orders UNION SELECT l_orderkey FROM lineitem").isEmpty());
    assertTrue(plan("SELECT o_orderkey, rank() OVER (ORDER BY o_total) FROM orders").isEmpty());
    assertTrue(plan("WITH x AS (SELECT * FROM orders) SELECT count(*) FROM x").isEmpty());
    assertTrue(plan("SELECT count(*) FROM orders WHERE o_orderkey = ?").isEmpty());
    // an aggregate that cannot be split, DISTINCT aggregates
    assertTrue(plan("SELECT median(o_total) FROM orders").isEmpty());
    assertTrue(plan("SELECT count(DISTINCT o_custkey), count(*) FROM orders").isEmpty());
    // a broadcast table larger than the anchor
    assertTrue(plan("SELECT count(*) FROM customer c, nation WHERE c_nation = n_nationkey").isPresent());
    // tables the catalog does not know (node-local tables, table functions)
    assertTrue(plan("SELECT count(*) FROM orders, mylocal WHERE o_orderkey = mylocal.k").isEmpty());
    assertTrue(plan("SELECT count(*) FROM read_parquet('x.parquet')").isEmpty());
  }

  @Test
  void distinctAggregatesOfOneExpressionAreDeduplicatedOnTheNodes() {
    FragmentPlanner.Plan p = plan("SELECT c_name, count(DISTINCT l_partkey) AS parts, sum(DISTINCT l_partkey) AS s "
        + "FROM customer, orders, lineitem WHERE c_custkey = o_custkey AND o_orderkey = l_orderkey GROUP BY c_name "
        + "HAVING count(DISTINCT l_partkey) > 1").orElseThrow();
    assertEquals("SELECT c_name AS \"c_name\", l_partkey AS __quiver_d FROM customer, orders, lineitem WHERE "
        + "c_custkey = o_custkey AND o_orderkey = l_orderkey GROUP BY c_name, l_partkey", p.partialSql());
    assertEquals("SELECT c_name, count(DISTINCT __quiver_d) AS parts, sum(DISTINCT __quiver_d) AS s FROM x "
        + "GROUP BY \"c_name\" HAVING count(DISTINCT __quiver_d) > 1", p.finalSql("x", null, null));
    assertEquals("SELECT count(DISTINCT __quiver_d) AS n FROM x",
        plan("SELECT count(DISTINCT o_custkey) AS n FROM orders").orElseThrow().finalSql("x", null, null));
    assertTrue(plan("SELECT count(DISTINCT o_custkey), count(DISTINCT o_total) FROM orders").isEmpty());
  }

  @Test
  void leftJoinsKeepEveryMatchOfALeftRowOnItsNode() {
    FragmentPlanner.Plan p = plan("SELECT o_orderkey, count(l_partkey) AS n FROM orders LEFT JOIN lineitem "
        + "ON o_orderkey = l_orderkey AND l_qty > 5 GROUP BY o_orderkey").orElseThrow();
    assertEquals(FragmentPlanner.Combine.COMPLETE_GROUPS, p.combine());
    assertEquals(List.of("orders", "lineitem"), p.grouped());
    FragmentPlanner.Plan dims = plan("SELECT n_name, count(*) AS n FROM orders LEFT OUTER JOIN customer ON o_custkey "
        + "= c_custkey LEFT JOIN nation ON c_nation = n_nationkey GROUP BY n_name").orElseThrow();
    assertEquals(List.of("customer", "nation"), dims.broadcast());
    // the left side read whole on every node: its unmatched rows would come back from every node
    assertTrue(plan("SELECT count(*) FROM customer LEFT JOIN orders ON c_custkey = o_custkey").isEmpty());
    assertTrue(plan("SELECT count(*) FROM orders o1 LEFT JOIN orders o2 ON o2.o_orderkey = o1.o_custkey").isEmpty());
    assertTrue(plan("SELECT count(*) FROM orders RIGHT JOIN lineitem ON o_orderkey = l_orderkey").isEmpty());
    assertTrue(plan("SELECT count(*) FROM orders FULL JOIN lineitem ON o_orderkey = l_orderkey").isEmpty());
    // an ON condition of a LEFT JOIN filters no left row: no shard pruning from it
    assertTrue(plan("SELECT count(*) FROM orders LEFT JOIN lineitem ON o_orderkey = l_orderkey AND l_orderkey = 5")
        .orElseThrow().keyRestriction().isEmpty());
  }

  @Test
  void literalConditionsOnTheKeyRestrictTheShards() {
    assertEquals(List.of("42"), plan("SELECT * FROM orders o, lineitem l WHERE l.l_orderkey = o.o_orderkey "
        + "AND o.o_orderkey = 42").orElseThrow().keyRestriction().orElseThrow().equals());
    assertEquals(List.of("1", "2"), plan("SELECT * FROM lineitem WHERE l_orderkey IN (1, 2) AND l_qty > 3")
        .orElseThrow().keyRestriction().orElseThrow().equals());
    FragmentPlanner.KeyRestriction r = plan("SELECT * FROM lineitem WHERE l_orderkey BETWEEN 10 AND 20")
        .orElseThrow().keyRestriction().orElseThrow();
    assertEquals("10", r.lower());
    assertEquals("20", r.upper());
    assertTrue(plan("SELECT * FROM lineitem WHERE l_orderkey = 1 OR l_qty = 2").orElseThrow().keyRestriction()
        .isEmpty(), "a condition under OR restricts nothing");
  }

  @Test
  void plainRowsAreConcatenatedSortedAndLimitedAgain() {
    FragmentPlanner.Plan p = plan("SELECT DISTINCT l.l_partkey FROM lineitem l ORDER BY l.l_partkey LIMIT 10")
        .orElseThrow();
    assertEquals(FragmentPlanner.Combine.CONCATENATE, p.combine());
    assertEquals("SELECT DISTINCT l.l_partkey FROM lineitem l ORDER BY l.l_partkey LIMIT 10", p.partialSql());
    assertEquals("SELECT DISTINCT * FROM x ORDER BY \"l_partkey\" LIMIT 10", p.finalSql("x", null, null));
  }
}
