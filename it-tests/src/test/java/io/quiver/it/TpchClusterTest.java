package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.server.tpch.TpchData;
import io.quiver.server.tpch.TpchLoader;
import io.quiver.server.tpch.TpchQueries;
import io.quiver.proto.wire.FragmentTicket;
import io.quiver.proto.wire.ShuffleInput;
import io.quiver.proto.wire.ShuffleSendTicket;
import io.quiver.proto.wire.ShuffleTarget;
import io.quiver.proto.wire.Wire;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.duckdb.DuckDBConnection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * All 22 TPC-H queries at scale factor 0.01 on 3 node processes holding the distributed TPC-H
 * tables, through the Flight SQL JDBC driver, each result compared with a single-node DuckDB
 * holding the same generated data.
 */
class TpchClusterTest {
  private static final double SF = 0.01;

  @TempDir
  static Path dir;

  private static final List<NodeProcess> nodes = new ArrayList<>();
  private static BufferAllocator allocator;
  private static DuckDBConnection oracle;

  @BeforeAll
  static void loadClusterAndOracle() throws Exception {
    allocator = new RootAllocator();
    nodes.addAll(ItCluster.start(dir, "tpch", 3));
    int p0 = nodes.get(0).port();
    ItSql.eventually("3 alive nodes and a Raft leader", true, () -> ItSql.scalar(p0, "SELECT count(*) FROM "
        + "trex_db_nodes() WHERE status = 'alive'").equals("3") && ItSql.scalar(p0, "SELECT leader FROM "
        + "trex_db_raft_status()") != null);
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1", p0)).build();
        FlightSqlClient sql = new FlightSqlClient(client)) {
      TpchLoader loader = new TpchLoader(sql, allocator, System.out);
      loader.load(SF, 4, loader.clusterMode());
    }
    oracle = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:");
    TpchData.loadInto(oracle, SF, allocator);
  }

  @AfterAll
  static void stopAll() throws Exception {
    if (oracle != null) {
      oracle.close();
    }
    for (NodeProcess n : nodes) {
      n.close();
    }
    allocator.close();
  }

  @Test
  void all22QueriesEqualSingleNodeDuckDb() throws Exception {
    assertEquals("6", ItSql.scalar(nodes.get(0).port(), "SELECT count(*) FROM trex_db_tables() WHERE table_name IN "
        + "('lineitem', 'orders', 'customer', 'part', 'partsupp', 'supplier') AND node_name LIKE '%,%'"),
        "the six large tables are distributed");
    List<String> failures = new ArrayList<>();
    for (int q = 1; q <= TpchQueries.COUNT; q++) {
      String text = TpchQueries.query(q);
      List<List<Object>> expected;
      try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery(text)) {
        expected = TpchQueries.rows(rs);
      }
      int port = nodes.get(q % 3).port(); // every node coordinates some queries
      long start = System.nanoTime();
      List<List<Object>> actual;
      try (Connection c = DriverManager.getConnection(ItSql.url(port)); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery(text)) {
        actual = TpchQueries.rows(rs);
      }
      String diff = TpchQueries.difference(expected, actual);
      System.out.printf("Q%02d: %d rows, %d ms%s%n", q, actual.size(), (System.nanoTime() - start) / 1_000_000,
          diff == null ? "" : " DIFFERS: " + diff);
      if (diff != null) {
        failures.add("Q" + q + ": " + diff);
      }
    }
    assertNull(failures.isEmpty() ? null : String.join("\n", failures));
  }

  /** The first row's sql column of EXPLAIN {@code sql} (the plan summary of a split), over Flight SQL. */
  private static String planSummary(org.apache.arrow.flight.sql.FlightSqlClient c, String sql) throws Exception {
    List<String> rows = planRows(c, sql);
    return rows.get(0);
  }

  /** The last row's sql column of EXPLAIN {@code sql} (the gather step of a gathered statement), over Flight SQL. */
  private static String lastPlanRow(org.apache.arrow.flight.sql.FlightSqlClient c, String sql) throws Exception {
    List<String> rows = planRows(c, sql);
    return rows.get(rows.size() - 1);
  }

  private static List<String> planRows(org.apache.arrow.flight.sql.FlightSqlClient c, String sql) throws Exception {
    org.apache.arrow.flight.FlightInfo info = c.execute("EXPLAIN " + sql);
    List<String> rows = new java.util.ArrayList<>();
    try (org.apache.arrow.flight.FlightStream stream = c.getStream(info.getEndpoints().get(0).getTicket())) {
      while (stream.next()) {
        for (int i = 0; i < stream.getRoot().getRowCount(); i++) {
          rows.add(String.valueOf(stream.getRoot().getVector("sql").getObject(i)));
        }
      }
    }
    return rows;
  }

  /** The rows of {@code sql} on the cluster (through {@code port}) and on the single-node oracle, compared. */
  private static void assertSameAsOracle(int port, String sql) throws Exception {
    List<List<Object>> expected;
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      expected = TpchQueries.rows(rs);
    }
    try (Connection c = DriverManager.getConnection(ItSql.url(port)); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      assertNull(TpchQueries.difference(expected, TpchQueries.rows(rs)), sql);
    }
  }

  @Test
  void explainShowsTheFragmentsEachNodeRuns() throws Exception {
    int port = nodes.get(1).port();
    List<List<String>> q6 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(6));
    assertEquals(5, q6.size(), "a plan line, one fragment per node (4 shards on 3 nodes), the final step: " + q6);
    assertEquals("plan", q6.get(0).get(0));
    assertTrue(q6.get(0).get(2).startsWith("planned by Calcite: fragments over the shards of lineitem;")
        && q6.get(0).get(2).contains("final aggregation of partial aggregates")
        && q6.get(0).get(2).contains("3 fragment(s) over 4 of 4 shard(s) of lineitem"), q6.toString());
    // the fragment and the final query as Calcite writes them in DuckDB's SQL
    assertTrue(q6.stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2).startsWith(
        "WITH \"lineitem\" AS NOT MATERIALIZED (SELECT * FROM \"lineitem_") && r.get(2).replaceAll("\\s+", " ").contains(
        "SELECT SUM(\"l_extendedprice\" * \"l_discount\") AS \"__quiver_p0\" FROM") && r.get(2).contains(
        "\"l_shipdate\" >= DATE '1994-01-01'")), q6.toString());
    assertEquals(3, q6.stream().filter(r -> r.get(0).equals("fragment")).map(r -> r.get(1)).distinct().count(),
        "each node runs one fragment over its shards: " + q6);
    assertTrue(q6.get(4).get(0).equals("final") && q6.get(4).get(2).contains("SUM(\"__quiver_p0\")")
        && q6.get(4).get(2).contains("FROM <rows of the 3 fragment(s)>"), q6.toString());
  }

  @Test
  void aggregatesUnderJoinsRunFirstAsStagesWhoseRowsTheNextFragmentsReceive() throws Exception {
    int port = nodes.get(1).port();
    String q17 = TpchQueries.query(17);
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + q17);
    List<String> steps = plan.stream().map(r -> r.get(0)).toList();
    String stage = "\"__quiver_stage_1\"";
    // the correlated average runs first, as a split of its own: only for the parts the outer query's filter keeps
    assertEquals("stage __quiver_stage_1", steps.get(0), plan.toString());
    assertTrue(plan.get(0).get(2).contains("run first as a split of its own, its rows kept here and sent whole to "
        + "the fragments that read __quiver_stage_1: planned by Calcite: fragments over the shards of lineitem"),
        plan.toString());
    int rest = steps.indexOf("plan");
    assertTrue(rest > 0 && plan.get(rest).get(2).endsWith("it reads the rows of 1 stage(s) above"), plan.toString());
    assertTrue(plan.subList(1, rest).stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2)
        .contains("'Brand#23'") && !r.get(2).contains(stage)), plan.toString());
    assertTrue(plan.subList(rest, plan.size()).stream().filter(r -> r.get(0).equals("fragment")).count() == 3
        && plan.subList(rest, plan.size()).stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2)
        .contains("INNER JOIN " + stage)), plan.toString());
    // EXPLAIN ANALYZE: the stage's rows (one per part of the filter that has lines), then the rest
    List<List<String>> analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + q17);
    assertEquals(List.of("stage __quiver_stage_1", "this node", oracleCount("SELECT count(DISTINCT l_partkey) FROM "
        + "lineitem, part WHERE l_partkey = p_partkey AND p_brand = 'Brand#23' AND p_container = 'MED BOX'")),
        analyzed.get(0).subList(0, 3), analyzed.toString());
    assertTrue(analyzed.get(0).get(4).contains("bytes of Arrow IPC each"), analyzed.toString());
    assertEquals("1", analyzed.stream().filter(r -> r.get(0).equals("final")).reduce((a, b) -> b).orElseThrow().get(2),
        analyzed.toString());
    assertSameAsOracle(port, q17);
    // a scalar sub-query (one row) and a NOT EXISTS: two stages, then the rest
    String q22 = TpchQueries.query(22);
    List<String> q22Steps = ItSql.query(port, "EXPLAIN " + q22).stream().map(r -> r.get(0)).toList();
    assertTrue(q22Steps.containsAll(List.of("stage __quiver_stage_1", "stage __quiver_stage_2", "plan")),
        q22Steps.toString());
    assertSameAsOracle(port, q22);
    // a stage with more rows than may be sent on: the statement is gathered instead, never truncated
    SQLException wrong = assertThrows(SQLException.class,
        () -> ItSql.query(port, "SELECT trex_db_set('stage_rows_max_bytes', '0')"));
    assertTrue(wrong.getMessage().contains("stage_rows_max_bytes must be a positive number of bytes"),
        wrong.getMessage());
    try {
      ItSql.query(port, "SELECT trex_db_set('stage_rows_max_bytes', '100')");
      List<List<String>> tooLarge = ItSql.query(port, "EXPLAIN ANALYZE " + q17);
      assertTrue(tooLarge.get(0).get(4).endsWith("its rows take more than 100 bytes of Arrow IPC "
          + "(stage_rows_max_bytes): the statement runs gathered instead"), tooLarge.toString());
      assertEquals("gather", tooLarge.get(tooLarge.size() - 1).get(0), tooLarge.toString());
      assertEquals("1", tooLarge.get(tooLarge.size() - 1).get(2), tooLarge.toString());
      assertSameAsOracle(port, q17);
    } finally {
      ItSql.query(port, "SELECT trex_db_set('stage_rows_max_bytes', '" + (64L << 20) + "')");
    }
  }

  @Test
  void aNodeLocalTableOfAnotherNodeIsBroadcastToTheFragmentsOfASplit() throws Exception {
    String create = "CREATE TABLE vip_orders AS SELECT range * 7 + 1 AS v_orderkey, 'vip ' || range AS v_label "
        + "FROM range(400)";
    ItSql.update(nodes.get(2).port(), create);
    try (Statement s = oracle.createStatement()) {
      s.execute(create);
    }
    String sql = "SELECT n_name, count(*) AS n, sum(l_quantity) AS q, max(v_label) AS label FROM lineitem, orders, "
        + "customer, nation, vip_orders WHERE l_orderkey = o_orderkey AND o_custkey = c_custkey AND c_nationkey = "
        + "n_nationkey AND o_orderkey = v_orderkey GROUP BY n_name ORDER BY n DESC, n_name LIMIT 5";
    // from another node: planned by Calcite with the node-local table read whole by every fragment
    int port = nodes.get(0).port();
    ItSql.eventually("gossip lists vip_orders on node 2", false, () -> ItSql.query(port, "EXPLAIN " + sql).get(0)
        .get(2).contains("broadcast to every fragment: vip_orders"));
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + sql);
    assertTrue(plan.get(0).get(2).startsWith("planned by Calcite: "), plan.toString());
    assertTrue(plan.stream().anyMatch(r -> r.get(0).equals("broadcast vip_orders") && r.get(2).startsWith(
        "SELECT * FROM \"vip_orders\"")), plan.toString());
    assertEquals(3, plan.stream().filter(r -> r.get(0).equals("fragment")).count(), plan.toString());
    assertSameAsOracle(port, sql);
    // on its own node, whose fragment reads it by name
    assertSameAsOracle(nodes.get(2).port(), sql);
  }

  @Test
  void rollupCubeAndGroupingSetsAreSplitIntoPartialAndFinalAggregates() throws Exception {
    int port = nodes.get(1).port();
    String rollup = "SELECT l_returnflag, l_linestatus, count(*) AS n, sum(l_quantity) AS q, avg(l_discount) AS d, "
        + "grouping(l_returnflag, l_linestatus) AS g FROM lineitem GROUP BY ROLLUP (l_returnflag, l_linestatus) "
        + "ORDER BY l_returnflag, l_linestatus, g";
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + rollup);
    assertTrue(plan.get(0).get(2).startsWith("planned by Calcite: fragments over the shards of lineitem;")
        && plan.get(0).get(2).contains("final aggregation of partial aggregates"), plan.toString());
    assertTrue(plan.stream().filter(r -> r.get(0).equals("final")).allMatch(r -> r.get(2).contains("ROLLUP")),
        plan.toString());
    assertSameAsOracle(port, rollup);
    assertSameAsOracle(port, "SELECT o_orderpriority, o_orderstatus, max(o_totalprice) AS m FROM orders GROUP BY "
        + "CUBE (o_orderpriority, o_orderstatus) ORDER BY o_orderpriority, o_orderstatus, m");
  }

  @Test
  void unionIntersectAndExceptOfSplitRowsAreSplit() throws Exception {
    int port = nodes.get(2).port();
    List<String> queries = List.of(
        "SELECT o_orderkey FROM orders WHERE o_totalprice > 300000 UNION SELECT l_orderkey FROM lineitem WHERE "
            + "l_quantity > 49 ORDER BY 1",
        "SELECT l_orderkey FROM lineitem WHERE l_discount = 0.10 EXCEPT SELECT o_orderkey FROM orders WHERE "
            + "o_orderstatus = 'F' ORDER BY 1",
        "SELECT l_orderkey FROM lineitem WHERE l_discount = 0.10 INTERSECT SELECT o_orderkey FROM orders WHERE "
            + "o_orderpriority = '1-URGENT' ORDER BY 1");
    for (String q : queries) {
      List<List<String>> plan = ItSql.query(port, "EXPLAIN " + q);
      assertTrue(plan.get(0).get(0).equals("plan") && plan.get(0).get(2).startsWith("planned by Calcite: "),
          q + ": " + plan);
      assertSameAsOracle(port, q);
    }
    // split rows with rows every fragment reads whole (customer is broadcast): gathered, and still right
    String mixed = "SELECT o_custkey FROM orders WHERE o_totalprice > 300000 UNION SELECT c_custkey FROM customer "
        + "WHERE c_acctbal > 9900 ORDER BY 1";
    assertTrue(ItSql.query(port, "EXPLAIN " + mixed).stream().anyMatch(r -> r.get(0).equals("not split")
        && r.get(2).contains("a set operation of split and whole rows")), mixed);
    assertSameAsOracle(port, mixed);
  }

  @Test
  void windowFunctionsRunPerFragmentWhenPartitionedByAShardKeyElseGathered() throws Exception {
    int port = nodes.get(0).port();
    String byKey = "SELECT l_orderkey, l_linenumber, rank() OVER (PARTITION BY l_orderkey ORDER BY l_extendedprice "
        + "DESC, l_linenumber) AS r, sum(l_quantity) OVER (PARTITION BY l_orderkey) AS order_qty FROM lineitem "
        + "WHERE l_partkey < 300 ORDER BY order_qty DESC, l_orderkey, l_linenumber LIMIT 20";
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + byKey);
    assertTrue(plan.get(0).get(2).startsWith("planned by Calcite: fragments over the shards of lineitem;"),
        plan.toString());
    assertTrue(plan.stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2).contains(
        "OVER (PARTITION BY")), plan.toString());
    assertSameAsOracle(port, byKey);
    // partitioned by another column: its partitions span the nodes, so it is gathered, and still right
    String other = "SELECT l_orderkey, l_linenumber, rank() OVER (PARTITION BY l_suppkey ORDER BY l_orderkey, "
        + "l_linenumber) AS r FROM lineitem WHERE l_suppkey < 5 ORDER BY l_orderkey, l_linenumber";
    List<List<String>> gathered = ItSql.query(port, "EXPLAIN " + other);
    assertTrue(gathered.stream().anyMatch(r -> r.get(0).equals("not split") && r.get(2).contains(
        "window functions over split rows, not partitioned by a shard key")), gathered.toString());
    assertSameAsOracle(port, other);
  }

  @Test
  void thePlannerCanBeSwitchedToTheTextPlannerPerNode() throws Exception {
    int port = nodes.get(0).port();
    String q6 = TpchQueries.query(6);
    assertTrue(ItSql.query(port, "EXPLAIN " + q6).get(0).get(2).startsWith("planned by Calcite: "));
    SQLException wrong = assertThrows(SQLException.class,
        () -> ItSql.query(port, "SELECT trex_db_set('planner', 'cost')"));
    assertTrue(wrong.getMessage().contains("planner must be 'calcite'"), wrong.getMessage());
    try {
      ItSql.query(port, "SELECT trex_db_set('planner', 'text')");
      String plan = ItSql.query(port, "EXPLAIN " + q6).get(0).get(2);
      assertTrue(plan.startsWith("fragments over the shards of lineitem;") && plan.endsWith("split by the text "
          + "planner (the Calcite planner declined: switched off on this node (trex_db_set('planner', 'text')))"),
          plan);
      assertSameAsOracle(port, q6);
      // the other nodes keep their own setting
      assertTrue(ItSql.query(nodes.get(1).port(), "EXPLAIN " + q6).get(0).get(2).startsWith("planned by Calcite: "));
    } finally {
      ItSql.query(port, "SELECT trex_db_set('planner', 'calcite')");
    }
    assertTrue(ItSql.query(port, "EXPLAIN " + q6).get(0).get(2).startsWith("planned by Calcite: "));
  }

  @Test
  void plansAreCheckedOnceUntilTheNodeRunsSomethingElseThanAQuery() throws Exception {
    int port = nodes.get(2).port();
    String sql = "SELECT l_returnflag, count(*) AS n, sum(l_quantity) AS q FROM lineitem WHERE l_quantity > 17 "
        + "GROUP BY l_returnflag ORDER BY l_returnflag";
    String reused = "the split's check reused from an earlier run of this statement";
    // over Flight SQL directly: the JDBC driver prepares each statement first, which checks it already
    try (org.apache.arrow.memory.BufferAllocator a = new org.apache.arrow.memory.RootAllocator();
        org.apache.arrow.flight.sql.FlightSqlClient c = new org.apache.arrow.flight.sql.FlightSqlClient(
            org.apache.arrow.flight.FlightClient.builder(a, org.apache.arrow.flight.Location.forGrpcInsecure(
                "127.0.0.1", port)).build())) {
      String first = planSummary(c, sql);
      assertTrue(first.startsWith("planned by Calcite: fragments over the shards of lineitem") && !first.contains(reused), first);
      String again = planSummary(c, sql);
      assertTrue(again.contains(reused), again);
      assertSameAsOracle(port, sql);
      // a gathered statement's fetch analysis is kept the same way
      String gathered = "SELECT c_mktsegment, count(*) AS n FROM customer LEFT JOIN orders "
          + "ON c_custkey = o_custkey AND o_totalprice > 1000 GROUP BY c_mktsegment ORDER BY c_mktsegment";
      String analysisReused = "the fetch analysis reused from an earlier run of this statement";
      String gather = lastPlanRow(c, gathered);
      assertTrue(gather.startsWith("joins, aggregates and sorts run here") && !gather.contains(analysisReused), gather);
      assertTrue(lastPlanRow(c, gathered).contains(analysisReused));
      assertSameAsOracle(port, gathered);
      // DDL (here a macro) may change what a statement means: it is checked and analysed again
      ItSql.update(port, "CREATE OR REPLACE MACRO quiver_it_next(x) AS x + 1");
      String afterDdl = planSummary(c, sql);
      assertFalse(afterDdl.contains(reused), afterDdl);
      assertFalse(lastPlanRow(c, gathered).contains(analysisReused));
    }
    assertSameAsOracle(port, sql);
  }

  @Test
  void aStatementRunAgainSeesNewRowsAndARecreatedTable() throws Exception {
    // the coordinator keeps a split's check for the next run of the statement: the run must still read the rows
    // as they are now, and a table dropped and created again under the same name (same shard names, other
    // columns) as it is now
    int port = nodes.get(0).port();
    String sql = "SELECT count(*) AS n, sum(v) AS total FROM kept_fragments";
    ItSql.query(port, "SELECT trex_db_create_table('CREATE TABLE kept_fragments (k BIGINT, v INTEGER)', "
        + "'{\"strategy\": \"hash\", \"column\": \"k\", \"num_partitions\": 4}')");
    try {
      ItSql.update(port, "INSERT INTO kept_fragments SELECT i, 1 FROM range(0, 100) t(i)");
      for (int run = 0; run < 3; run++) {
        assertEquals(List.of(List.of("100", "100")), ItSql.query(port, sql));
      }
      ItSql.update(port, "INSERT INTO kept_fragments SELECT i, 2 FROM range(100, 150) t(i)");
      assertEquals(List.of(List.of("150", "200")), ItSql.query(port, sql));
      ItSql.update(port, "DROP TABLE kept_fragments");
      ItSql.query(port, "SELECT trex_db_create_table('CREATE TABLE kept_fragments (k BIGINT, w VARCHAR, v DOUBLE)', "
          + "'{\"strategy\": \"hash\", \"column\": \"k\", \"num_partitions\": 4}')");
      ItSql.update(port, "INSERT INTO kept_fragments SELECT i, 'x', 0.5 FROM range(0, 10) t(i)");
      assertEquals(List.of(List.of("10", "5.0")), ItSql.query(port, sql));
    } finally {
      ItSql.update(port, "DROP TABLE IF EXISTS kept_fragments");
    }
  }

  @Test
  void explainAnalyzeReportsRowsAndTimePerFragment() throws Exception {
    int port = nodes.get(0).port();
    List<List<String>> q3 = ItSql.query(port, "EXPLAIN ANALYZE " + TpchQueries.query(3));
    assertEquals("plan", q3.get(0).get(0), q3.toString());
    List<List<String>> fragments = q3.stream().filter(r -> r.get(0).equals("fragment")).toList();
    assertEquals(3, fragments.size(), q3.toString());
    for (List<String> f : fragments) {
      assertTrue(Long.parseLong(f.get(2)) <= 10 && Double.parseDouble(f.get(3)) > 0, "each fragment returns its top "
          + "10 groups, with its time: " + f);
    }
    List<String> last = q3.get(q3.size() - 1);
    assertEquals(List.of("final", "this node", "10"), last.subList(0, 3), q3.toString());
    // a gathered query reports its one step with the rows it returned
    long rows;
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM ("
        + GATHERED_OUTER_JOIN + ")")) {
      rs.next();
      rows = rs.getLong(1);
    }
    // ... after the rows it read of each table of other nodes
    List<List<String>> q13 = ItSql.query(port, "EXPLAIN ANALYZE " + GATHERED_OUTER_JOIN);
    assertEquals(3, q13.size(), q13.toString());
    assertEquals(List.of("fetch customer", "this node", oracleCount("SELECT count(*) FROM customer")),
        q13.get(0).subList(0, 3), q13.toString());
    assertEquals(List.of("fetch orders", "this node", oracleCount("SELECT count(*) FROM orders WHERE o_comment "
        + "NOT LIKE '%special%requests%'")), q13.get(1).subList(0, 3), q13.toString());
    assertEquals(List.of("gather", "this node", Long.toString(rows)), q13.get(2).subList(0, 3));
  }

  /**
   * Q13's outer join, gathered: count(*) would count a customer's null-extended row once per node
   * if each node joined the orders it holds (Q13 itself counts o_orderkey, and is split).
   */
  private static final String GATHERED_OUTER_JOIN = "SELECT c_mktsegment, count(*) AS n, count(o_orderkey) AS orders "
      + "FROM customer LEFT OUTER JOIN orders ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%' "
      + "GROUP BY c_mktsegment ORDER BY c_mktsegment";

  private static String oracleCount(String sql) throws Exception {
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return Long.toString(rs.getLong(1));
    }
  }

  /** Rows of a fragment ticket, as other nodes send for fragments and shard reads. */
  private static long ticketRows(int port, String query, String queryId, long memoryBytes) throws Exception {
    byte[] ticket = Wire.pack(FragmentTicket.newBuilder().setQuery(query).setQueryId(queryId).setMemoryBytes(
        memoryBytes).build());
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1", port)).build();
        org.apache.arrow.flight.FlightStream stream = client.getStream(new org.apache.arrow.flight.Ticket(ticket))) {
      long rows = 0;
      while (stream.next()) {
        rows += stream.getRoot().getRowCount();
      }
      return rows;
    }
  }

  @Test
  void aFragmentRunsUnderItsQuerysIdAndMemoryBudget() throws Exception {
    int port = nodes.get(0).port();
    String wide = "SELECT repeat(l_comment, 40) AS c FROM lineitem_0";
    long rows = Long.parseLong(ItSql.scalar(port, "SELECT count(*) FROM lineitem_0"));
    assertEquals(rows, ticketRows(port, wide, "q-00000000-0000-0000-0000-000000000001", 0),
        "the node's own budget fits the rows");
    org.apache.arrow.flight.FlightRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
        org.apache.arrow.flight.FlightRuntimeException.class, () -> ticketRows(port, wide,
            "q-00000000-0000-0000-0000-000000000002", 1 << 20));
    assertTrue(e.getMessage().contains("OUT_OF_MEMORY") && e.getMessage().contains("needs more memory"),
        "a 1 MiB budget from the coordinating query is enforced on the fragment: " + e.getMessage());
    assertEquals("3", ItSql.scalar(port, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'"));
  }

  /** A shuffle send's ticket, as the coordinator sends it: the rows of {@code query}, all for bucket 0, to one target. */
  private static byte[] sendTicket(String queryId, String exchange, String query, int target, int sender,
      int senders, long memoryBytes) {
    return Wire.pack(ShuffleSendTicket.newBuilder().setExchange(exchange).setQuery(query).setQueryId(queryId)
        .setMemoryBytes(memoryBytes).addTargets(ShuffleTarget.newBuilder().setEndpoint("127.0.0.1:"
        + nodes.get(target).port()).addBuckets(0)).setSender(sender).setSenders(senders).build());
  }

  /** A fragment's ticket reading what {@code senders} nodes push to it in {@code exchange}. */
  private static byte[] readerTicket(String queryId, String exchange, int senders, long memoryBytes) {
    return Wire.pack(FragmentTicket.newBuilder().setQuery("SELECT count(*) AS n, sum(length(c)) AS bytes FROM "
        + "__quiver_pull_big").setQueryId(queryId).setMemoryBytes(memoryBytes).putShuffles("__quiver_pull_big",
        ShuffleInput.newBuilder().setExchange(exchange).setTarget(0).setSenders(senders).build()).build());
  }

  /** The one row of a ticket's answer, as text. */
  private static List<String> ticketRow(int port, byte[] ticket, org.apache.arrow.flight.CallOption... options)
      throws Exception {
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1", port)).build();
        org.apache.arrow.flight.FlightStream stream = client.getStream(new org.apache.arrow.flight.Ticket(ticket),
            options)) {
      List<String> row = new java.util.ArrayList<>();
      while (stream.next()) {
        for (int i = 0; i < stream.getRoot().getRowCount() && row.isEmpty(); i++) {
          for (org.apache.arrow.vector.FieldVector v : stream.getRoot().getFieldVectors()) {
            row.add(String.valueOf(v.getObject(i)));
          }
        }
      }
      return row;
    }
  }

  private static long spillFiles(Path spillDir) throws java.io.IOException {
    if (!java.nio.file.Files.isDirectory(spillDir)) {
      return 0;
    }
    try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(spillDir)) {
      return files.filter(f -> f.getFileName().toString().startsWith("shuffle-big-")).count();
    }
  }

  @Test
  void aPushShuffleLargerThanItsMemoryShareSpillsToDiskAndFinishes() throws Exception {
    // two nodes push 2 x 60,000 rows of ~200 bytes (~25 MB) to node 0's fragment; the query's budget is 64 MiB, so
    // node 0 keeps at most 16 MiB of them in memory and spills the rest
    String q = "q-00000000-0000-0000-0000-0000000000a1";
    long budget = 64L << 20;
    String rows = "SELECT repeat('x', 200) || i AS c, 0 AS __quiver_bucket FROM range(60000) t(i)";
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      java.util.concurrent.Future<List<String>> a = pool.submit(() -> ticketRow(nodes.get(1).port(),
          sendTicket(q, "big", rows, 0, 0, 2, budget)));
      java.util.concurrent.Future<List<String>> b = pool.submit(() -> ticketRow(nodes.get(2).port(),
          sendTicket(q, "big", rows, 0, 1, 2, budget)));
      // each send answers target, endpoint, rows, batches once node 0 holds its rows (nothing reads them yet)
      assertEquals("60000", a.get().get(2));
      assertEquals("60000", b.get().get(2));
      Path spill = dir.resolve("d0").resolve("tmp").resolve("shuffle");
      assertTrue(spillFiles(spill) > 0, "node 0 spilled what exceeded its share to " + spill);
      List<String> read = ticketRow(nodes.get(0).port(), readerTicket(q, "big", 2, budget));
      long bytes = 2 * (60_000L * 200 + 10 + 90 * 2 + 900 * 3 + 9_000 * 4 + 50_000 * 5);
      assertEquals(List.of("120000", Long.toString(bytes)), read, "every pushed row arrived once, spilled or not");
      assertEquals(0, spillFiles(spill), "the spill files are gone once read");
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aFailingShuffleSendFailsItsFragmentWithTheReason() throws Exception {
    String q = "q-00000000-0000-0000-0000-0000000000a2";
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(1);
    try {
      java.util.concurrent.Future<List<String>> bad = pool.submit(() -> ticketRow(nodes.get(1).port(),
          sendTicket(q, "broken", "SELECT no_such_column AS c, 0 AS __quiver_bucket FROM range(10)", 0, 0, 2, 0)));
      org.apache.arrow.flight.FlightRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
          org.apache.arrow.flight.FlightRuntimeException.class, () -> ticketRow(nodes.get(0).port(),
              readerTicket(q, "broken", 2, 0)));
      assertTrue(e.getMessage().contains("no_such_column") && e.getMessage().contains("shuffle " + q + "/broken"),
          "the fragment fails at once with the sender's reason, not after waiting for the second sender: "
          + e.getMessage());
      java.util.concurrent.ExecutionException sent = org.junit.jupiter.api.Assertions.assertThrows(
          java.util.concurrent.ExecutionException.class, bad::get);
      assertTrue(sent.getCause().getMessage().contains("no_such_column"), sent.getCause().getMessage());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aClientThatGivesUpCancelsTheFragmentsOnEveryNode() throws Exception {
    int port = nodes.get(0).port();
    // a co-located join whose fragments would each build gigabytes of strings: minutes of work
    String slow = "SELECT count(*) AS n FROM orders, lineitem WHERE o_orderkey = l_orderkey "
        + "AND length(repeat(l_comment, 20000)) > 0";
    assertEquals("plan", ItSql.query(port, "EXPLAIN " + slow).get(0).get(0));
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1", port)).build();
        FlightSqlClient sql = new FlightSqlClient(client)) {
      org.apache.arrow.flight.FlightRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
          org.apache.arrow.flight.FlightRuntimeException.class, () -> sql.execute(slow,
              org.apache.arrow.flight.CallOptions.timeout(2, java.util.concurrent.TimeUnit.SECONDS)));
      assertEquals(org.apache.arrow.flight.FlightStatusCode.TIMED_OUT, e.status().code(), e.getMessage());
    }
    // the coordinator, still preparing the statement, sees its client's call end and cancels the running fragments
    ItSql.eventually("the coordinator cancelled its fragments", true, () -> nodes.get(0).output().contains(
        "the client cancelled its query while 0 send(s) and 3 fragment(s) ran; cancelling them"));
    assertEquals("15000", ItSql.scalar(port, "SELECT count(*) FROM orders"));
  }

  @Test
  void aCancelledFragmentStopsWaitingForItsShuffleAndEndsIt() throws Exception {
    String q = "q-00000000-0000-0000-0000-0000000000a3";
    // the fragment waits for two senders that never come; its caller gives up after a second
    org.apache.arrow.flight.FlightRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
        org.apache.arrow.flight.FlightRuntimeException.class, () -> ticketRow(nodes.get(0).port(),
            readerTicket(q, "abandoned", 2, 0), org.apache.arrow.flight.CallOptions.timeout(1,
                java.util.concurrent.TimeUnit.SECONDS)));
    assertEquals(org.apache.arrow.flight.FlightStatusCode.TIMED_OUT, e.status().code(), e.getMessage());
    // node 0 stopped waiting and ended the exchange: a sender arriving now is refused, its rows not kept for nobody
    ItSql.eventually("a late sender refused by the cancelled fragment's node", true, () -> {
      try {
        ticketRow(nodes.get(1).port(), sendTicket(q, "abandoned", "SELECT 'x' AS c, 0 AS __quiver_bucket", 0, 0,
            2, 0));
        return false;
      } catch (org.apache.arrow.flight.FlightRuntimeException refused) {
        return refused.getMessage().contains("has already ended");
      }
    });
  }

  @Test
  void aGatheredStatementFetchesOnlyTheRowsWhoseKeysItsSelectiveSideHas() throws Exception {
    int port = nodes.get(0).port();
    // Q17, with a part filter that finds some lines at this scale factor
    String q17 = TpchQueries.query(17).replace("p_container = 'MED BOX'", "p_size < 10");
    assertTrue(q17.contains("p_size < 10"), q17);
    // the gather path: with the text planner, which splits none of Q17, Q20 and Q11 (Calcite runs them as stages)
    ItSql.query(port, "SELECT trex_db_set('planner', 'text')");
    try {
      gatheredFetchesOnlyTheRowsWhoseKeysItsSelectiveSideHas(port, q17);
    } finally {
      ItSql.query(port, "SELECT trex_db_set('planner', 'calcite')");
    }
  }

  private void gatheredFetchesOnlyTheRowsWhoseKeysItsSelectiveSideHas(int port, String q17) throws Exception {
    // Q17 is gathered: part is fetched first with its own filter, then lineitem only for the keys part brought
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + q17);
    List<List<String>> partScans = plan.stream().filter(r -> r.get(0).equals("scan part")).toList();
    List<List<String>> lineitemScans = plan.stream().filter(r -> r.get(0).equals("scan lineitem")).toList();
    assertTrue(!partScans.isEmpty() && partScans.stream().allMatch(r -> r.get(2).contains("p_brand = 'Brand#23'")
        && !r.get(2).contains("<keys of")), plan.toString());
    assertTrue(!lineitemScans.isEmpty() && lineitemScans.stream().allMatch(r -> r.get(2).contains(
        "WHERE ((\"l_partkey\" IN (<keys of part.p_partkey, found when the statement runs>)))")), plan.toString());
    List<List<String>> analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + q17);
    long fetched = analyzed.stream().filter(r -> r.get(0).equals("fetch lineitem")).mapToLong(r -> Long.parseLong(
        r.get(2))).sum();
    long needed;
    long all;
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FILTER (WHERE "
        + "l_partkey IN (SELECT p_partkey FROM part WHERE p_brand = 'Brand#23' AND p_size < 10)), "
        + "count(*) FROM lineitem")) {
      rs.next();
      needed = rs.getLong(1);
      all = rs.getLong(2);
    }
    assertEquals(needed, fetched, "the lineitem rows of part's keys, and no others, are fetched: " + analyzed);
    assertTrue(needed > 0 && needed * 20 < all, needed + " of " + all);
    assertSameAsOracle(port, q17);
    // Q20: partsupp for the keys of the parts it names (through a mark join), then lineitem for the part and
    // supplier keys of those partsupp rows
    String q20 = TpchQueries.query(20);
    List<List<String>> q20Analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + q20);
    String forest = "(SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')";
    assertEquals(List.of(oracleCount("SELECT count(*) FROM partsupp WHERE ps_partkey IN " + forest)), q20Analyzed
        .stream().filter(r -> r.get(0).equals("fetch partsupp")).map(r -> r.get(2)).toList(), q20Analyzed.toString());
    assertEquals(List.of(oracleCount("SELECT count(*) FROM lineitem WHERE l_shipdate >= DATE '1994-01-01' "
        + "AND l_shipdate < DATE '1995-01-01' AND l_partkey IN (SELECT ps_partkey FROM partsupp WHERE ps_partkey IN "
        + forest + ") AND l_suppkey IN (SELECT ps_suppkey FROM partsupp WHERE ps_partkey IN " + forest + ")")),
        q20Analyzed.stream().filter(r -> r.get(0).equals("fetch lineitem")).map(r -> r.get(2)).toList(),
        q20Analyzed.toString());
    assertSameAsOracle(port, q20);
    // Q13's join: o_comment only decides which orders join; it travels as one sampled value, not 15,000 comments
    List<List<String>> q13Scans = ItSql.query(port, "EXPLAIN " + GATHERED_OUTER_JOIN).stream()
        .filter(r -> r.get(0).equals("scan orders")).toList();
    assertTrue(!q13Scans.isEmpty() && q13Scans.stream().allMatch(r -> r.get(2).startsWith(
        "SELECT \"o_orderkey\", \"o_custkey\" FROM") && r.get(2).contains("o_comment !~~ '%special%requests%'")),
        q13Scans.toString());
    assertSameAsOracle(port, GATHERED_OUTER_JOIN);
    // Q11: nation (filtered), then supplier for nation's keys, then partsupp for supplier's keys (supplier and
    // partsupp each join the other: the one already reduced goes first)
    List<List<String>> q11Analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + TpchQueries.query(11));
    assertEquals(List.of(oracleCount("SELECT count(*) FROM supplier WHERE s_nationkey IN (SELECT n_nationkey FROM "
        + "nation WHERE n_name = 'GERMANY')")), q11Analyzed.stream().filter(r -> r.get(0).equals("fetch supplier"))
        .map(r -> r.get(2)).toList(), q11Analyzed.toString());
    assertEquals(List.of(oracleCount("SELECT count(*) FROM partsupp WHERE ps_suppkey IN (SELECT s_suppkey FROM "
        + "supplier, nation WHERE s_nationkey = n_nationkey AND n_name = 'GERMANY')")), q11Analyzed.stream()
        .filter(r -> r.get(0).equals("fetch partsupp")).map(r -> r.get(2)).toList(), q11Analyzed.toString());
    assertSameAsOracle(port, TpchQueries.query(11));
  }

  @Test
  void joinStrategiesAndShardPruningShowInExplainAndGiveOracleResults() throws Exception {
    int port = nodes.get(2).port();
    // co-located: lineitem and orders share their shard -> node mapping and are joined on the order key
    String colocated = "SELECT l_shipmode, count(*) AS n, sum(o_totalprice) AS total FROM orders JOIN lineitem "
        + "ON o_orderkey = l_orderkey WHERE l_quantity > 10 GROUP BY l_shipmode ORDER BY l_shipmode";
    String plan = ItSql.query(port, "EXPLAIN " + colocated).get(0).get(2);
    assertTrue(plan.startsWith("planned by Calcite: co-located join of lineitem, orders;") && !plan.contains(
        "broadcast"), plan);
    assertSameAsOracle(port, colocated);
    // LEFT JOIN: co-located on the key, or to a table every fragment reads whole
    String left = "SELECT o_orderpriority, count(l_orderkey) AS big_lines, count(*) AS n FROM orders LEFT JOIN "
        + "lineitem ON o_orderkey = l_orderkey AND l_quantity > 45 GROUP BY o_orderpriority ORDER BY o_orderpriority";
    plan = ItSql.query(port, "EXPLAIN " + left).get(0).get(2);
    assertTrue(plan.startsWith("planned by Calcite: co-located join of lineitem, orders;"), plan);
    assertSameAsOracle(port, left);
    String leftDim = "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total FROM orders LEFT JOIN customer "
        + "ON o_custkey = c_custkey AND c_acctbal > 5000 GROUP BY c_mktsegment ORDER BY c_mktsegment NULLS FIRST";
    plan = ItSql.query(port, "EXPLAIN " + leftDim).get(0).get(2);
    assertTrue(plan.contains("broadcast to every fragment: customer"), plan);
    assertSameAsOracle(port, leftDim);
    // broadcast: customer (hashed on its own key) is pulled by every fragment, filtered on its segment
    plan = ItSql.query(port, "EXPLAIN " + TpchQueries.query(3)).get(0).get(2);
    assertTrue(plan.contains("broadcast to every fragment: customer") && plan.contains("complete groups"), plan);
    assertSameAsOracle(port, TpchQueries.query(3));
    // a replicated table (nation, region) is read in place by every fragment: each node holds a copy
    List<List<String>> q5 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(5));
    List<List<String>> q5Fragments = q5.stream().filter(r -> r.get(0).equals("fragment")).toList();
    assertTrue(!q5Fragments.isEmpty() && q5Fragments.stream().allMatch(r -> r.get(2).contains(
        "\"nation\" AS NOT MATERIALIZED (SELECT * FROM \"nation_0\")") && r.get(2).contains(
        "\"region\" AS NOT MATERIALIZED (SELECT * FROM \"region_0\")")), q5.toString());
    assertSameAsOracle(port, TpchQueries.query(5));
    // a broadcast joined with a filtered replicated table: each fragment pulls only the supplier rows of the nations
    // named, the semi-join evaluated by the serving node over its own copy of nation
    String semi = "SELECT n_name, count(*) AS n, sum(l_extendedprice) AS price FROM lineitem, supplier, nation "
        + "WHERE l_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name IN ('GERMANY', 'FRANCE') "
        + "GROUP BY n_name ORDER BY n_name";
    List<List<String>> semiPlan = ItSql.query(port, "EXPLAIN " + semi);
    assertTrue(semiPlan.stream().anyMatch(r -> r.get(0).equals("broadcast supplier") && r.get(1).equals(
        "every fragment") && r.get(2).contains("\"s_nationkey\" IN (SELECT \"n_nationkey\" FROM (SELECT * FROM "
        + "\"nation_0\") AS \"nation\" WHERE") && r.get(2).contains("GERMANY")), semiPlan.toString());
    assertSameAsOracle(port, semi);
    // shuffle: in Q2, part (hashed on its key, not co-located with partsupp) is tied to partsupp's key by
    // p_partkey = ps_partkey, also inside the correlated subquery: partsupp's shards stay in place and every fragment
    // pulls only the part rows whose p_partkey hashes to its shards
    List<List<String>> q2 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(2));
    plan = q2.get(0).get(2);
    assertTrue(plan.startsWith("planned by Calcite: fragments over the shards of partsupp;") && plan.contains(
        "shuffled to the fragments by hash of the join column: part on p_partkey"), plan);
    // a push shuffle: each node holding shards of part reads them once (filtered, with their bucket) and routes the
    // rows to the fragments, which read them as they arrive
    List<List<String>> sends = q2.stream().filter(r -> r.get(0).equals("shuffle")).toList();
    assertEquals(3, sends.size(), q2.toString());
    assertEquals(3, sends.stream().map(r -> r.get(1)).distinct().count(), q2.toString());
    assertTrue(sends.stream().allMatch(r -> r.get(2).contains("AS \"__quiver_bucket\" FROM (SELECT * FROM \"part_")
        && r.get(2).contains("suffix(p_type, 'BRASS')") && r.get(2).contains("rows routed by __quiver_bucket to")),
        sends.toString());
    assertTrue(q2.stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2).contains(
        "\"part\" AS NOT MATERIALIZED (SELECT * FROM \"__quiver_pull_part\")")), q2.toString());
    assertSameAsOracle(port, TpchQueries.query(2));
    List<List<String>> q2Analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + TpchQueries.query(2));
    long shuffled = q2Analyzed.stream().filter(r -> r.get(0).equals("shuffle")).mapToLong(r -> Long.parseLong(
        r.get(2))).sum();
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM part WHERE "
        + "p_size = 15 AND p_type LIKE '%BRASS'")) {
      rs.next();
      assertEquals(rs.getLong(1), shuffled, "each part row passing Q2's filter is shuffled once: " + q2Analyzed);
    }
    // shard pruning: a literal condition on the shard key leaves the shards holding those keys
    String pruned = "SELECT o_orderkey, count(*) AS lines, sum(l_extendedprice) AS price FROM orders, lineitem "
        + "WHERE o_orderkey = l_orderkey AND o_orderkey IN (1, 7) GROUP BY o_orderkey ORDER BY o_orderkey";
    List<List<String>> prunedPlan = ItSql.query(port, "EXPLAIN " + pruned);
    assertTrue(prunedPlan.get(0).get(2).matches(".*over [12] of 4 shard\\(s\\) of lineitem \\(the others pruned.*"),
        prunedPlan.toString());
    assertSameAsOracle(port, pruned);
    assertSameAsOracle(port, "SELECT count(*), sum(l_quantity) FROM lineitem WHERE l_orderkey = 7");
    // an outer join whose preserved side every fragment reads whole, inside a derived table: each node counts the
    // orders it holds per customer, the coordinator adds the counts up and runs the outer query (Q13)
    List<List<String>> q13 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(13));
    assertTrue(q13.get(0).get(2).startsWith("planned by Calcite: fragments over the shards of orders; broadcast to "
        + "every fragment: customer; combined by final aggregation of partial aggregates (the LEFT JOIN of the shards "
        + "to a table read whole runs on each node over the matches it holds"), q13.toString());
    // the counts per customer added up, then the outer aggregation, on the coordinator
    assertTrue(q13.get(q13.size() - 1).get(2).replaceAll("\\s+", " ").contains("SELECT \"c_count\", COUNT(*) AS "
        + "\"custdist\" FROM (SELECT \"c_custkey\", SUM(\"__quiver_p0\") AS \"c_count\" FROM"), q13.toString());
    assertSameAsOracle(port, TpchQueries.query(13));
    // what cannot be split provably is gathered: count(*) would count a customer's null-extended row on every node
    String counted = "SELECT c_mktsegment, count(*) AS n FROM customer LEFT JOIN orders ON c_custkey = o_custkey "
        + "AND o_totalprice > 300000 GROUP BY c_mktsegment ORDER BY c_mktsegment";
    List<List<String>> gathered = ItSql.query(port, "EXPLAIN " + counted);
    assertEquals("gather", gathered.get(gathered.size() - 1).get(0), gathered.toString());
    // EXPLAIN says why: the Calcite planner's reason first
    assertEquals(List.of("not split", "this node", "the Calcite planner declined: an aggregate over an outer join that "
        + "keeps every row of a side each fragment reads whole counts the kept side (COUNT(*), DISTINCT, FILTER, or "
        + "not the null-supplying side's values); the text planner found no split it can prove correct"),
        gathered.get(gathered.size() - 2), gathered.toString());
    assertSameAsOracle(port, counted);
  }

  @Test
  void joinsOnOtherColumnsThanTheShardKeysHashShuffleBothSides() throws Exception {
    int port = nodes.get(1).port();
    // a self-join of orders (hashed on the order key) on the customer key: each node reads its shards once and
    // routes every row to the fragment of its o_custkey's hash bucket, where both sides of the join meet
    String pairs = "SELECT o1.o_orderpriority, count(*) AS pairs, sum(o2.o_totalprice) AS later_total FROM orders o1 "
        + "JOIN orders o2 ON o1.o_custkey = o2.o_custkey AND o1.o_orderdate < o2.o_orderdate WHERE o1.o_orderstatus "
        + "= 'F' GROUP BY o1.o_orderpriority ORDER BY o1.o_orderpriority";
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + pairs);
    assertTrue(plan.get(0).get(2).startsWith("planned by Calcite: hash-shuffled join: every side repartitioned by hash of its join column "
        + "into one bucket per fragment: orders on o_custkey;") && plan.get(0).get(2).contains("3 fragment(s), one "
        + "hash bucket each"), plan.toString());
    List<List<String>> sends = plan.stream().filter(r -> r.get(0).equals("shuffle")).toList();
    assertEquals(3, sends.size(), plan.toString());
    assertTrue(sends.stream().allMatch(r -> r.get(2).contains("CAST(hash(\"o_custkey\") % 3 AS INTEGER) AS "
        + "\"__quiver_bucket\"") && r.get(2).contains("(bucket 0), ") && r.get(2).contains("(bucket 2)")),
        sends.toString());
    assertTrue(plan.stream().filter(r -> r.get(0).equals("fragment")).allMatch(r -> r.get(2).startsWith(
        "WITH \"orders\" AS NOT MATERIALIZED (SELECT * FROM \"__quiver_pull_orders\")")), plan.toString());
    assertSameAsOracle(port, pairs);
    // two tables of comparable size, each hashed on its own id, joined on another column: broadcasting one would
    // copy it to every fragment; both are repartitioned on the join column instead, every row moved once
    String[] setup = {
        "CREATE TABLE visits (id BIGINT, user_id BIGINT, page VARCHAR)",
        "CREATE TABLE purchases (id BIGINT, user_id BIGINT, amount DECIMAL(10, 2))",
        "INSERT INTO visits SELECT i, i % 300, 'page' || (i % 7) FROM range(0, 3000) t(i)",
        "INSERT INTO purchases SELECT i, (i * 7) % 400, (i % 100) + 0.25 FROM range(0, 2000) t(i)"};
    try (Statement s = oracle.createStatement()) {
      for (String sql : setup) {
        s.execute(sql);
      }
    }
    String hashed = "'{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4}'";
    ItSql.query(port, "SELECT trex_db_create_table('" + setup[0] + "', " + hashed + ")");
    ItSql.query(port, "SELECT trex_db_create_table('" + setup[1] + "', " + hashed + ")");
    try {
      ItSql.update(port, setup[2]);
      ItSql.update(port, setup[3]);
      String join = "SELECT v.page, count(*) AS n, sum(p.amount) AS amount, max(p.amount) AS top "
          + "FROM visits v JOIN purchases p ON v.user_id = p.user_id GROUP BY v.page ORDER BY v.page";
      // the row counts that choose the strategy reach the coordinator by gossip, shard by shard
      List<List<String>> analyzed = new ArrayList<>();
      ItSql.eventually("a hash-shuffled join of visits and purchases", true, () -> {
        analyzed.clear();
        analyzed.addAll(ItSql.query(port, "EXPLAIN ANALYZE " + join));
        return analyzed.get(0).get(4).startsWith("planned by Calcite: hash-shuffled join: every side repartitioned by hash of its join "
            + "column into one bucket per fragment: visits on user_id, purchases on user_id;");
      });
      assertEquals(5000, analyzed.stream().filter(r -> r.get(0).equals("shuffle")).mapToLong(r -> Long.parseLong(
          r.get(2))).sum(), "every row of both tables is shuffled once: " + analyzed);
      assertEquals(3, analyzed.stream().filter(r -> r.get(0).equals("fragment")).count(), analyzed.toString());
      assertSameAsOracle(port, join);
      // a LEFT JOIN on the join column: a visit and the purchases it matches land in the same bucket
      String left = "SELECT v.page, count(p.id) AS bought, count(*) AS n FROM visits v LEFT JOIN purchases p ON "
          + "v.user_id = p.user_id AND p.amount > 90 GROUP BY v.page ORDER BY v.page";
      ItSql.eventually("a hash-shuffled LEFT JOIN of visits and purchases", true, () -> ItSql.query(port, "EXPLAIN "
          + left).get(0).get(2).startsWith("planned by Calcite: hash-shuffled join: every side repartitioned by hash of its join column "
          + "into one bucket per fragment: visits on user_id, purchases on user_id;"));
      assertSameAsOracle(port, left);
      assertSameAsOracle(nodes.get(2).port(), "SELECT count(*) AS n, min(v.id) AS first_visit, max(p.amount) AS top "
          + "FROM visits v, purchases p WHERE v.user_id = p.user_id AND p.amount > 50 AND v.page <> 'page3'");
    } finally {
      ItSql.update(port, "DROP TABLE IF EXISTS visits");
      ItSql.update(port, "DROP TABLE IF EXISTS purchases");
      try (Statement s = oracle.createStatement()) {
        s.execute("DROP TABLE IF EXISTS visits");
        s.execute("DROP TABLE IF EXISTS purchases");
      }
    }
  }

  @Test
  void aggregatingCommonTableExpressionsRunFirstAsSplitsOfTheirOwn() throws Exception {
    int port = nodes.get(2).port();
    // Q15 cannot be split as a whole (its CTE is read twice, once under a max); its CTE aggregates lineitem and
    // runs first as fragments, the rest reads the CTE's rows from a temporary table here
    String q15 = TpchQueries.query(15);
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + q15);
    assertEquals("cte revenue0", plan.get(0).get(0), plan.toString());
    assertTrue(plan.get(0).get(2).contains("fragments over the shards of lineitem; combined by final aggregation of "
        + "partial aggregates"), plan.toString());
    assertEquals(3, plan.stream().filter(r -> r.get(0).equals("fragment")).count(), plan.toString());
    assertTrue(plan.get(plan.size() - 1).get(2).endsWith("SELECT s_suppkey, s_name, s_address, s_phone, "
        + "total_revenue FROM supplier, revenue0 WHERE s_suppkey = supplier_no AND total_revenue = (SELECT "
        + "max(total_revenue) FROM revenue0) ORDER BY s_suppkey"), plan.toString());
    List<List<String>> analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + q15);
    assertEquals(List.of("cte revenue0", "this node", oracleCount("SELECT count(DISTINCT l_suppkey) FROM lineitem "
        + "WHERE l_shipdate >= DATE '1996-01-01' AND l_shipdate < DATE '1996-04-01'")), analyzed.get(0).subList(0, 3),
        analyzed.toString());
    assertSameAsOracle(port, q15);
    // a column list, a CTE that reads another (it stays in the statement), a CTE that passes rows through (it stays:
    // scan pushdown fetches what the whole statement needs of it), and a CTE in a scalar subquery
    String chained = "WITH per_order (orderkey, lines, qty) AS (SELECT l_orderkey, count(*), sum(l_quantity) FROM "
        + "lineitem GROUP BY l_orderkey), big AS (SELECT * FROM per_order WHERE qty > 200), urgent AS (SELECT "
        + "o_orderkey, o_orderpriority FROM orders WHERE o_orderpriority = '1-URGENT'), segments AS (SELECT "
        + "c_mktsegment, count(*) AS n FROM customer GROUP BY c_mktsegment) SELECT o_orderpriority, count(*) AS n, sum(lines) AS "
        + "lines, (SELECT max(n) FROM segments) AS segment FROM big JOIN urgent ON orderkey = o_orderkey GROUP BY "
        + "o_orderpriority";
    List<String> steps = ItSql.query(port, "EXPLAIN " + chained).stream().map(r -> r.get(0)).toList();
    String only = "WITH totals AS (SELECT l_returnflag, sum(l_quantity) AS q FROM lineitem GROUP BY l_returnflag) "
        + "SELECT max(q) AS most FROM totals";
    List<List<String>> onlyPlan = ItSql.query(port, "EXPLAIN " + only);
    assertEquals(List.of("final", "this node", "runs here over the rows of the common table expressions above (and "
        + "this node's tables): SELECT max(q) AS most FROM totals"), onlyPlan.get(onlyPlan.size() - 1),
        onlyPlan.toString());
    assertSameAsOracle(port, only);
    assertEquals(List.of("cte per_order", "cte segments"), steps.stream().filter(x -> x.startsWith("cte ")).toList(),
        steps.toString());
    assertSameAsOracle(port, chained);
    List<List<String>> chainedAnalyzed = ItSql.query(port, "EXPLAIN ANALYZE " + chained);
    assertEquals(List.of("cte per_order", "this node", oracleCount("SELECT count(DISTINCT l_orderkey) FROM lineitem")),
        chainedAnalyzed.get(0).subList(0, 3), chainedAnalyzed.toString());
    // a CTE named like the table it reads is an error in DuckDB; it stays one here
    SQLException circular = assertThrows(SQLException.class, () -> ItSql.query(port, "WITH customer AS (SELECT "
        + "c_mktsegment, count(*) AS n FROM customer GROUP BY c_mktsegment) SELECT max(n) FROM customer"));
    assertTrue(String.valueOf(circular.getCause()).contains("Circular reference to CTE"), circular.toString());
  }

  @Test
  void distributedPlanningCanBeSwitchedOffAndListedFunctionsSayWhatIsNotBuilt() throws Exception {
    int port = nodes.get(2).port();
    assertTrue(ItSql.scalar(port, "SELECT trex_db_set_distributed(false)").startsWith("distributed planning disabled"));
    try {
      List<List<String>> plan = ItSql.query(port, "EXPLAIN " + TpchQueries.query(6));
      assertEquals(1, plan.size(), plan.toString());
      assertTrue(plan.get(0).get(2).contains("distributed planning is off"), plan.toString());
      List<List<Object>> expected;
      try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery(TpchQueries.query(6))) {
        expected = TpchQueries.rows(rs);
      }
      try (Connection c = DriverManager.getConnection(ItSql.url(port)); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery(TpchQueries.query(6))) {
        assertNull(TpchQueries.difference(expected, TpchQueries.rows(rs)));
      }
    } finally {
      ItSql.scalar(port, "SELECT trex_db_set_distributed(true)");
    }
    assertEquals("plan", ItSql.query(port, "EXPLAIN " + TpchQueries.query(6)).get(0).get(0));
    // trex_db_query: a distributed query as a table, with its own column types
    assertEquals(List.of(List.of("A", "F", "DECIMAL(38,2)", "BIGINT", "DATE")), ItSql.query(port, "SELECT l_returnflag, "
        + "l_linestatus, typeof(sum_qty), typeof(count_order), typeof(d) FROM trex_db_query('SELECT l_returnflag, "
        + "l_linestatus, sum(l_quantity) AS sum_qty, count(*) AS count_order, max(l_shipdate) AS d FROM lineitem "
        + "GROUP BY ALL ORDER BY 1, 2') LIMIT 1"));
    List<List<Object>> q1;
    try (Statement s = oracle.createStatement(); ResultSet rs = s.executeQuery(TpchQueries.query(1))) {
      q1 = TpchQueries.rows(rs);
    }
    try (Connection c = DriverManager.getConnection(ItSql.url(port)); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT * FROM trex_db_query('" + TpchQueries.query(1).replace("'", "''")
            + "')")) {
      assertNull(TpchQueries.difference(q1, TpchQueries.rows(rs)));
    }
    for (String call : List.of("SELECT trex_db_set_priority('batch')",
        "SELECT * FROM trex_db_metrics()", "SELECT trex_db_cancel_query('q-1')")) {
      java.sql.SQLException e = org.junit.jupiter.api.Assertions.assertThrows(java.sql.SQLException.class,
          () -> ItSql.query(port, call));
      assertTrue(e.getMessage().contains("NOT_SUPPORTED") && e.getMessage().contains("not supported yet"),
          call + ": " + e.getMessage());
    }
  }

  @Test
  void externalFlightSqlSourcesAndFilesJoinClusterTables() throws Exception {
    int port = nodes.get(0).port();
    try (TestNode other = TestNode.start()) {
      ItSql.update(other.port(), "CREATE TABLE promos AS SELECT range + 1 AS p_partkey, 'promo ' || range AS label "
          + "FROM range(5)");
      assertTrue(ItSql.scalar(port, "SELECT trex_db_attach_flight('promos', '127.0.0.1:" + other.port() + "', "
          + "'SELECT * FROM promos')").startsWith("attached promos"));
      assertEquals(List.of(List.of("5", "promo 4")), ItSql.query(port, "SELECT count(*), max(label) FROM part "
          + "JOIN promos USING (p_partkey)"));
      assertTrue(ItSql.scalar(port, "SELECT trex_db_detach_flight('promos')").startsWith("detached"));
    }
    // an Arrow IPC file (file format) on the coordinating node, attached under a name
    Path arrow = dir.resolve("keys.arrow");
    org.apache.arrow.vector.types.pojo.Schema schema = new org.apache.arrow.vector.types.pojo.Schema(List.of(
        org.apache.arrow.vector.types.pojo.Field.nullable("p_partkey", new org.apache.arrow.vector.types.pojo.ArrowType
            .Int(64, true))));
    try (org.apache.arrow.vector.VectorSchemaRoot root = org.apache.arrow.vector.VectorSchemaRoot.create(schema,
        allocator); java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(arrow,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        org.apache.arrow.vector.ipc.ArrowFileWriter writer = new org.apache.arrow.vector.ipc.ArrowFileWriter(root,
            null, out)) {
      org.apache.arrow.vector.BigIntVector keys = (org.apache.arrow.vector.BigIntVector) root.getVector(0);
      keys.allocateNew(4);
      for (int i = 0; i < 4; i++) {
        keys.set(i, 10 + i);
      }
      root.setRowCount(4);
      writer.start();
      writer.writeBatch();
      writer.end();
    }
    assertTrue(ItSql.scalar(port, "SELECT trex_db_attach_arrow('arrow_keys', '" + arrow + "')").startsWith(
        "attached arrow_keys = Arrow IPC file"));
    assertEquals(List.of(List.of("4", "46")), ItSql.query(port, "SELECT count(*), sum(p_partkey) FROM part "
        + "JOIN arrow_keys USING (p_partkey)"));
    java.sql.SQLException notArrow = org.junit.jupiter.api.Assertions.assertThrows(java.sql.SQLException.class,
        () -> ItSql.scalar(port, "SELECT trex_db_attach_arrow('bad', '" + dir.resolve("missing.arrow") + "')"));
    assertTrue(notArrow.getMessage().contains("cannot be read"), notArrow.getMessage());
    assertTrue(ItSql.scalar(port, "SELECT trex_db_detach_arrow('arrow_keys')").startsWith("detached"));
    Path parquet = dir.resolve("keys.parquet");
    ItSql.update(port, "COPY (SELECT range + 1 AS p_partkey FROM range(3)) TO '" + parquet + "' (FORMAT parquet)");
    assertEquals(List.of(List.of("3")), ItSql.query(port, "SELECT count(*) FROM part JOIN read_parquet('" + parquet
        + "') USING (p_partkey)"));
    // a table function after FROM or JOIN runs on the coordinator; its rows go to the fragments of the split
    String withFile = "SELECT count(*) AS n, sum(l_quantity) AS q FROM lineitem JOIN read_parquet('" + parquet
        + "') k ON l_partkey = k.p_partkey";
    List<List<String>> plan = ItSql.query(port, "EXPLAIN " + withFile);
    assertEquals(List.of("relation __quiver_rel_1", "this node", "read_parquet('" + parquet + "') runs here; its rows "
        + "are sent whole to every fragment"), plan.get(0), plan.toString());
    assertTrue(plan.get(1).get(2).startsWith("planned by Calcite: fragments over the shards of lineitem"),
        plan.toString());
    assertEquals(List.of(List.of(oracleCount("SELECT count(*) FROM lineitem WHERE l_partkey <= 3"))), ItSql.query(port,
        "SELECT n FROM (" + withFile + ")"));
    List<List<String>> analyzed = ItSql.query(port, "EXPLAIN ANALYZE " + withFile);
    assertEquals(List.of("relation __quiver_rel_1", "this node", "3"), analyzed.get(0).subList(0, 3),
        analyzed.toString());
    // trex_db_query: a distributed query's rows, joined with a distributed table
    String nested = "SELECT count(*) AS n, sum(o_totalprice) AS t FROM orders JOIN trex_db_query('SELECT l_orderkey "
        + "AS k FROM lineitem WHERE l_quantity > 49 GROUP BY 1') q ON o_orderkey = q.k";
    assertTrue(ItSql.query(port, "EXPLAIN " + nested).get(0).get(0).equals("relation __quiver_rel_1"), nested);
    assertEquals(ItSql.query(port, "SELECT count(*) AS n, sum(o_totalprice) AS t FROM orders WHERE o_orderkey IN "
        + "(SELECT l_orderkey FROM lineitem WHERE l_quantity > 49)"), ItSql.query(port, nested));
  }
}
