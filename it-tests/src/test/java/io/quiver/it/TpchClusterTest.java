package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.server.tpch.TpchData;
import io.quiver.server.tpch.TpchLoader;
import io.quiver.server.tpch.TpchQueries;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
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

  @Test
  void explainShowsWhatEachShardRuns() throws Exception {
    int port = nodes.get(1).port();
    List<List<String>> q6 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(6));
    assertEquals(5, q6.size(), "4 shards aggregate, this node combines: " + q6);
    assertTrue(q6.get(0).get(0).equals("partial aggregate") && q6.get(0).get(2).contains(
        "sum(l_extendedprice * l_discount) AS __quiver_p0 FROM \"lineitem_0\" WHERE l_shipdate >="), q6.toString());
    assertEquals("final aggregate", q6.get(4).get(0));
    List<List<String>> q3 = ItSql.query(port, "EXPLAIN " + TpchQueries.query(3));
    assertTrue(q3.stream().anyMatch(r -> r.get(0).equals("scan customer") && r.get(2).contains("c_mktsegment = 'BUILDING'")
        && !r.get(2).contains("c_comment")), "the segment filter runs on the customer shards: " + q3);
    assertTrue(q3.stream().anyMatch(r -> r.get(0).equals("scan lineitem") && r.get(2).contains("l_shipdate")),
        q3.toString());
    assertEquals("gather", q3.get(q3.size() - 1).get(0));
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
    assertEquals("partial aggregate", ItSql.query(port, "EXPLAIN " + TpchQueries.query(6)).get(0).get(0));
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
    Path parquet = dir.resolve("keys.parquet");
    ItSql.update(port, "COPY (SELECT range + 1 AS p_partkey FROM range(3)) TO '" + parquet + "' (FORMAT parquet)");
    assertEquals(List.of(List.of("3")), ItSql.query(port, "SELECT count(*) FROM part JOIN read_parquet('" + parquet
        + "') USING (p_partkey)"));
  }
}
