package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Distributed tables on one cluster of 3 node processes, step by step: creation with hash, range
 * and replicated configs and the refusals of bad configs; trex_db_partitions(); writes routed to
 * the shards (INSERT VALUES/SELECT, prepared, COPY, UPDATE, DELETE, partition key changes) that are
 * all-or-nothing; a million rows through JDBC prepared batches checked shard by shard against a
 * single-node DuckDB oracle; and, last, reads with a node down when every shard has 2 copies.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DistributedTablesTest {
  @TempDir
  static Path dir;

  private static final List<NodeProcess> nodes = new ArrayList<>();
  private static int p0;

  @BeforeAll
  static void startCluster() throws Exception {
    nodes.addAll(ItCluster.start(dir, "dist", 3));
    p0 = nodes.get(0).port();
    eventually("3 alive nodes and a Raft leader", () -> query(p0, "SELECT count(*) FROM trex_db_nodes() WHERE status "
        + "= 'alive'").get(0).get(0).equals("3") && query(p0, "SELECT leader FROM trex_db_raft_status()").get(0).get(0)
        != null);
  }

  @AfterAll
  static void stopAll() throws Exception {
    for (NodeProcess n : nodes) {
      n.close();
    }
  }

  private static List<List<String>> query(int port, String sql) throws SQLException {
    return ItSql.query(port, sql);
  }

  private static void update(int port, String sql) throws SQLException {
    ItSql.update(port, sql);
  }

  private static String refusal(int port, String create, String config) {
    SQLException e = assertThrows(SQLException.class, () -> query(port,
        "SELECT trex_db_create_table('" + create + "', '" + config + "')"));
    return e.getMessage();
  }

  private static void eventually(String what, Callable<Boolean> condition) throws Exception {
    ItSql.eventually(what, true, condition);
  }

  private static int portOf(String node) {
    return nodes.get(Integer.parseInt(node.substring(1))).port();
  }

  /** shard id -> [count, sum(key)] read from every copy of every shard; asserts the copies agree. */
  private static Map<Integer, List<String>> perShard(String table, String key) throws SQLException {
    Map<Integer, List<String>> out = new TreeMap<>();
    for (List<String> p : query(p0, "SELECT partition_id, node_name, shard_table FROM trex_db_partitions() WHERE "
        + "table_name = '" + table + "' ORDER BY 1, 2")) {
      int shard = Integer.parseInt(p.get(0));
      List<String> got = query(portOf(p.get(1)), "SELECT count(*), coalesce(sum(" + key + "), 0) FROM " + p.get(2))
          .get(0);
      List<String> before = out.putIfAbsent(shard, got);
      assertEquals(before == null ? got : before, got, "copies of shard " + shard + " of " + table + " differ");
    }
    return out;
  }

  /** The same per-shard figures computed by a single-node DuckDB over {@code rowsSql}. */
  private static Map<Integer, List<String>> oracle(String rowsSql, String shardExpr, String key) throws SQLException {
    Map<Integer, List<String>> out = new TreeMap<>();
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT " + shardExpr + " AS shard, count(*), coalesce(sum(" + key + "), 0) FROM ("
            + rowsSql + ") GROUP BY 1")) {
      while (rs.next()) {
        out.put(rs.getInt(1), List.of(rs.getString(2), rs.getString(3)));
      }
    }
    return out;
  }

  @Test
  @Order(1)
  void createAndPlace() throws Exception {
    assertEquals("created distributed table orders (hash, 4 shards on 3 node(s))", query(p0,
        "SELECT trex_db_create_table('CREATE TABLE orders (id BIGINT, customer VARCHAR, amount DOUBLE)', "
        + "'{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4, \"replication_factor\": 2}')")
        .get(0).get(0));
    assertTrue(query(p0, "SELECT trex_db_create_table('CREATE TABLE by_day (day DATE, n INTEGER)', "
        + "'{\"strategy\": \"range\", \"column\": \"day\", \"ranges\": [\"2024-01-01\", \"2024-07-01\"]}')")
        .get(0).get(0).contains("range, 3 shards"));
    assertTrue(query(p0, "SELECT trex_db_create_table('CREATE TABLE countries (code INTEGER, name VARCHAR)', "
        + "'{\"strategy\": \"replicated\"}')").get(0).get(0).contains("replicated, 1 shard on 3 node(s)"));
    assertTrue(query(p0, "SELECT trex_db_create_table('CREATE TABLE lines (id BIGINT, qty INTEGER)', "
        + "'{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4, \"colocate_with\": \"orders\"}')")
        .get(0).get(0).contains("hash, 4 shards"));

    // refusals name the field
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"zigzag\"}").contains("config.strategy"));
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"hash\", \"column\": \"b\", "
        + "\"num_partitions\": 2}").contains("config.column 'b' is not a column of table 'x'"));
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"hash\", \"column\": \"a\", "
        + "\"num_partitions\": 0}").contains("config.num_partitions must be a positive integer"));
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"range\", \"column\": \"a\", "
        + "\"ranges\": [5, 1]}").contains("config.ranges must be strictly increasing"));
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"hash\", \"column\": \"a\", "
        + "\"num_partitions\": 2, \"replication_factor\": 4}").contains("config.replication_factor 4 needs at least 4"));
    assertTrue(refusal(p0, "CREATE TABLE x (a INTEGER)", "{\"strategy\": \"hash\", \"column\": \"a\", "
        + "\"num_partitions\": 2, \"colocate_with\": \"nope\"}").contains("config.colocate_with 'nope'"));
    assertTrue(refusal(p0, "CREATE TABLE orders (a INTEGER)", "{\"strategy\": \"replicated\"}")
        .contains("already exists"));

    // placements, from any node
    List<List<String>> placements = query(nodes.get(2).port(),
        "SELECT partition_id, node_name, flight_endpoint FROM trex_db_partitions() WHERE table_name = 'orders' "
        + "ORDER BY 1, 2");
    assertEquals(8, placements.size(), "4 shards x 2 copies");
    assertEquals(query(p0, "SELECT partition_id, node_name FROM trex_db_partitions() WHERE table_name = 'lines' "
        + "ORDER BY 1, 2"), query(p0, "SELECT partition_id, node_name FROM trex_db_partitions() WHERE table_name = "
        + "'orders' ORDER BY 1, 2"), "co-located tables share the shard -> node mapping");
    assertEquals(List.of(List.of("3")), query(p0, "SELECT count(DISTINCT node_name) FROM trex_db_partitions() "
        + "WHERE table_name = 'countries'"));
  }

  @Test
  @Order(2)
  void writesAreRoutedToTheShardsAllOrNothing() throws Exception {
    int p1 = nodes.get(1).port();
    update(p0, "INSERT INTO orders VALUES (1, 'a', 1.5), (2, 'b', 2.5), (3, 'c', 3.5)");
    update(p1, "INSERT INTO orders SELECT range, 'x', range * 1.0 FROM range(10, 1010)");
    try (Connection c = DriverManager.getConnection(ItSql.url(p1));
        PreparedStatement ps = c.prepareStatement("INSERT INTO orders VALUES (?, ?, ?)")) {
      for (int i = 2000; i < 2100; i++) {
        ps.setLong(1, i);
        ps.setString(2, "p");
        ps.setDouble(3, i / 2.0);
        ps.addBatch();
      }
      assertEquals(100, java.util.Arrays.stream(ps.executeBatch()).sum(), "the driver reports the batch as one count");
    }
    Path csv = dir.resolve("orders.csv");
    Files.writeString(csv, "id,customer,amount\n3000,csv,1\n3001,csv,2\n");
    update(nodes.get(2).port(), "COPY orders FROM '" + csv + "' (HEADER)");
    String all = "SELECT 1 AS id UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT range FROM range(10, 1010) "
        + "UNION ALL SELECT range FROM range(2000, 2100) UNION ALL SELECT 3000 UNION ALL SELECT 3001";
    String hash4 = "hash(id::BIGINT) % 4";
    assertEquals(oracle(all, hash4, "id"), perShard("orders", "id"));
    for (NodeProcess n : nodes) {
      assertEquals(List.of(List.of("1105")), query(n.port(), "SELECT count(*) FROM orders"));
    }

    // nothing of a failing statement is written: NULL keys, type errors, an unknown column
    for (String bad : List.of("INSERT INTO orders VALUES (5000, 'ok', 1), (NULL, 'no key', 2)",
        "INSERT INTO orders VALUES (5001, 'ok', 1), (5002, 'bad', 'abc')",
        "UPDATE orders SET nope = 1", "UPDATE orders SET id = NULL WHERE id = 1")) {
      SQLException e = assertThrows(SQLException.class, () -> update(p0, bad));
      assertTrue(!e.getMessage().contains("__quiver"), e.getMessage());
      if (bad.contains("NULL")) {
        assertTrue(e.getMessage().contains("NULL partition key (column id of distributed table orders)"),
            e.getMessage());
      }
    }
    assertEquals(oracle(all, hash4, "id"), perShard("orders", "id"));

    // UPDATE and DELETE run on the owning shards; changing the key moves the row
    update(p0, "UPDATE orders SET amount = amount + 1 WHERE id < 4");
    assertEquals(List.of(List.of("10.5")), query(p1, "SELECT sum(amount) FROM orders WHERE id < 4"));
    update(p0, "DELETE FROM orders WHERE id >= 500 AND id < 1010");
    update(p1, "UPDATE orders SET id = id + 100000 WHERE id < 100");
    String after = "SELECT range + 100000 AS id FROM range(1, 4) UNION ALL SELECT range + 100000 FROM range(10, 100) "
        + "UNION ALL SELECT range FROM range(100, 500) UNION ALL SELECT range FROM range(2000, 2100) "
        + "UNION ALL SELECT 3000 UNION ALL SELECT 3001";
    assertEquals(oracle(after, hash4, "id"), perShard("orders", "id"));
    assertEquals(List.of(List.of("595", "2.5", "p")), query(p0, "SELECT count(*), min(amount) FILTER "
        + "(WHERE id = 100001), max(customer) FILTER (WHERE id = 2050) FROM orders"));

    // range and replicated tables
    update(p0, "INSERT INTO by_day SELECT DATE '2023-12-30' + range::INTEGER, 1 FROM range(200)");
    assertEquals(oracle("SELECT DATE '2023-12-30' + range::INTEGER AS day FROM range(200)",
        "CASE WHEN day < DATE '2024-01-01' THEN 0 WHEN day < DATE '2024-07-01' THEN 1 ELSE 2 END", "1"),
        perShard("by_day", "1"));
    update(p0, "INSERT INTO countries VALUES (1, 'one'), (2, 'two')");
    assertEquals(Map.of(0, List.of("2", "3")), perShard("countries", "code"));

    // a million rows through JDBC prepared batches, checked shard by shard against DuckDB
    update(p0, "DELETE FROM orders");
    long start = System.nanoTime();
    try (Connection c = DriverManager.getConnection(ItSql.url(p1));
        PreparedStatement ps = c.prepareStatement("INSERT INTO orders VALUES (?, ?, ?)")) {
      for (int i = 0; i < 1_000_000; i++) {
        ps.setLong(1, i);
        ps.setString(2, "c" + (i % 97));
        ps.setDouble(3, i * 0.5);
        ps.addBatch();
        if (i % 50_000 == 49_999) {
          ps.executeBatch();
        }
      }
    }
    System.out.printf("1,000,000 rows through JDBC prepared batches: %.1f s%n", (System.nanoTime() - start) / 1e9);
    assertEquals(oracle("SELECT range AS id FROM range(1000000)", hash4, "id"), perShard("orders", "id"));
    assertEquals(List.of(List.of("1000000", "249999750000", "97")), query(nodes.get(2).port(),
        "SELECT count(*), sum(amount)::BIGINT, count(DISTINCT customer) FROM orders"));

    // trex_db_tables(): the exact total and the shards' schema hash, the same from every node
    for (NodeProcess n : nodes) {
      assertEquals(List.of(List.of("d0,d1,d2", "1000000")), query(n.port(), "SELECT node_name, approx_rows FROM "
          + "trex_db_tables() WHERE table_name = 'orders'"));
    }
    eventually("shard tables in gossip carry the table's schema hash", () -> query(p0, "SELECT count(DISTINCT "
        + "schema_hash), count(*) FROM trex_db_tables() WHERE table_name = 'orders' OR table_name LIKE 'orders\\_%' "
        + "ESCAPE '\\'").equals(List.of(List.of("1", "9"))));
  }

  @Test
  @Order(3)
  void repartitionOnlineWhileReadersCountAndWritersWrite() throws Exception {
    int p1 = nodes.get(1).port();
    int p2 = nodes.get(2).port();
    AtomicBoolean stop = new AtomicBoolean();
    List<String> counts = Collections.synchronizedList(new ArrayList<>());
    List<Long> written = Collections.synchronizedList(new ArrayList<>());
    List<String> refusals = Collections.synchronizedList(new ArrayList<>());
    Thread reader = new Thread(() -> {
      while (!stop.get()) {
        try {
          counts.add(query(p1, "SELECT count(*) FILTER (WHERE id < 1000000), count(DISTINCT id) FILTER "
              + "(WHERE id < 1000000) FROM orders").get(0).toString());
        } catch (SQLException e) {
          counts.add("error: " + e.getMessage());
        }
      }
    });
    Thread writer = new Thread(() -> {
      for (long id = 2_000_000; !stop.get(); id++) {
        try {
          update(p2, "INSERT INTO orders VALUES (" + id + ", 'w', 1)");
          written.add(id);
        } catch (SQLException e) {
          refusals.add(e.getMessage());
        }
      }
    });
    query(p0, "SELECT trex_db_set('repartition_pause_ms', '300')");
    reader.start();
    writer.start();
    try {
      assertTrue(query(p0, "SELECT trex_db_repartition_table('orders', '{\"strategy\": \"hash\", \"column\": \"id\", "
          + "\"num_partitions\": 7, \"replication_factor\": 2}')").get(0).get(0).startsWith(
          "repartitioned orders: hash(id) x4 rf2 -> hash(id) x7 rf2, 7 shard(s) on 3 node(s), "));
      assertEquals(List.of(List.of("done", "4", "4")), query(p1, "SELECT state, shards_done, shards_total FROM "
          + "trex_db_repartition_status() WHERE table_name = 'orders'"));
      assertTrue(query(p0, "SELECT trex_db_repartition_table('orders', '{\"strategy\": \"range\", \"column\": "
          + "\"id\", \"ranges\": [250000, 500000, 750000], \"replication_factor\": 2}')").get(0).get(0)
          .contains("hash(id) x7 rf2 -> range(id) x4 rf2"));
      Thread.sleep(300);
    } finally {
      stop.set(true);
      reader.join(30_000);
      writer.join(30_000);
      query(p0, "SELECT trex_db_set('repartition_pause_ms', '0')");
    }
    assertTrue(counts.size() >= 3, "the reader kept reading: " + counts);
    assertEquals(List.of("[1000000, 1000000]"), counts.stream().distinct().toList(),
        "every read during the moves saw every row exactly once");
    assertTrue(refusals.stream().allMatch(m -> m.contains("is being moved by a repartitioning")), refusals.toString());
    System.out.printf("during two moves: %d reads, %d writes landed, %d refused while frozen%n", counts.size(),
        written.size(), refusals.size());
    String landed = written.isEmpty() ? "" : " UNION ALL SELECT unnest([" + String.join(",",
        written.stream().map(String::valueOf).toList()) + "]::BIGINT[])";
    assertEquals(oracle("SELECT range AS id FROM range(1000000)" + landed, "CASE WHEN id < 250000 THEN 0 "
        + "WHEN id < 500000 THEN 1 WHEN id < 750000 THEN 2 ELSE 3 END", "id"), perShard("orders", "id"),
        "no acknowledged write lost, none duplicated");
    eventually("the retired shards dropped", () -> query(p0, "SELECT count(*) FROM trex_db_tables() WHERE table_name "
        + "IN ('orders_0', 'orders_v1_0')").equals(List.of(List.of("0"))));

    // a node-local table becomes a distributed one
    update(p1, "CREATE TABLE local_events AS SELECT range AS k, range % 7 AS g FROM range(5000)");
    assertTrue(query(p1, "SELECT trex_db_partition_table('local_events', '{\"strategy\": \"hash\", \"column\": "
        + "\"k\", \"num_partitions\": 3}')").get(0).get(0).startsWith("distributed local_events: local table -> "
        + "hash(k) x3"));
    assertEquals(List.of(List.of("5000", "12497500")), query(p2, "SELECT count(*), sum(k) FROM local_events"));
    assertEquals(oracle("SELECT range AS k FROM range(5000)", "hash(k) % 3", "k"), perShard("local_events", "k"));
  }

  @Test
  @Order(4)
  void aMoverThatDiesLeavesTheOldLayoutAndReadsSurviveIt() throws Exception {
    Map<Integer, List<String>> before = perShard("orders", "id");
    long rows = before.values().stream().mapToLong(v -> Long.parseLong(v.get(0))).sum();
    String expected = Long.toString(rows);
    int p2 = nodes.get(2).port();
    query(p2, "SELECT trex_db_set('repartition_pause_ms', '2000')");
    Thread mover = new Thread(() -> {
      try {
        query(p2, "SELECT trex_db_repartition_table('orders', '{\"strategy\": \"hash\", \"column\": \"id\", "
            + "\"num_partitions\": 5, \"replication_factor\": 2}')");
      } catch (SQLException e) {
        // the node dies under it
      }
    });
    mover.start();
    eventually("the move on d2 under way", () -> query(p0, "SELECT state, shards_done::INTEGER >= 1 FROM "
        + "trex_db_repartition_status() WHERE table_name = 'orders'").equals(List.of(List.of("running", "true"))));
    nodes.get(2).kill();
    mover.join(30_000);
    eventually("the move reported abandoned", () -> query(p0, "SELECT state FROM trex_db_repartition_status() "
        + "WHERE table_name = 'orders'").equals(List.of(List.of("abandoned"))));
    assertEquals(List.of(List.of("range", "4")), query(p0, "SELECT min(strategy), count(DISTINCT partition_id) FROM "
        + "trex_db_partitions() WHERE table_name = 'orders'"), "the old layout is still the table's layout");
    // every shard has a second copy, so everything is still read without d2
    eventually("the whole table readable without d2", () ->
        query(p0, "SELECT count(*) FROM orders").equals(List.of(List.of(expected)))
        && query(nodes.get(1).port(), "SELECT count(*) FROM orders").equals(List.of(List.of(expected))));
    SQLException e = assertThrows(SQLException.class, () -> update(p0, "INSERT INTO orders VALUES (-1, 'x', 1)"));
    assertTrue(e.getMessage().contains("is not alive, and every copy must take the write"), e.getMessage());
  }

  @Test
  @Order(5)
  void loadTpchDistributesTheTablesAndColocatesLineitemWithOrders() throws Exception {
    // DROP TABLE of a distributed table removes it everywhere (d2 is down: its copies stay behind)
    update(p0, "DROP TABLE orders");
    assertEquals(List.of(List.of("0")), query(nodes.get(1).port(), "SELECT count(*) FROM trex_db_partitions() WHERE "
        + "table_name = 'orders'"));
    assertEquals(List.of(List.of("0")), query(p0, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE "
        + "'orders\\_%' ESCAPE '\\'"));
    SQLException gone = assertThrows(SQLException.class, () -> query(p0, "SELECT count(*) FROM orders"));
    assertTrue(gone.getMessage().contains("orders"), gone.getMessage());
    update(p0, "DROP TABLE IF EXISTS orders");

    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.PrintStream saved = System.out;
    java.io.PrintStream savedErr = System.err;
    int exit;
    java.io.PrintStream capture = new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8);
    System.setOut(capture);
    System.setErr(capture);
    try {
      exit = new picocli.CommandLine(new io.quiver.server.cli.QuiverCli()).execute("load-tpch", "--sf", "0.01",
          "--port", Integer.toString(p0), "--partitions", "4");
    } finally {
      System.setOut(saved);
      System.setErr(savedErr);
    }
    String text = out.toString(java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(0, exit, text);
    assertTrue(text.contains("as distributed (4 shards per hashed table, hashed layout) tables")
        && text.contains("Loaded 86,805 rows"), text);
    assertEquals(List.of(List.of("lineitem", "60175"), List.of("nation", "25"), List.of("orders", "15000"),
        List.of("region", "5")), query(p0, "SELECT table_name, approx_rows FROM trex_db_tables() WHERE table_name IN "
        + "('lineitem', 'orders', 'nation', 'region') ORDER BY 1"));
    assertEquals(query(p0, "SELECT partition_id, node_name FROM trex_db_partitions() WHERE table_name = 'orders' "
        + "ORDER BY 1, 2"), query(p0, "SELECT partition_id, node_name FROM trex_db_partitions() WHERE table_name = "
        + "'lineitem' ORDER BY 1, 2"), "lineitem is co-located with orders");
    assertEquals(List.of(List.of("replicated", "2")), query(p0, "SELECT min(strategy), count(DISTINCT node_name) FROM "
        + "trex_db_partitions() WHERE table_name = 'nation'"), "replicated to both alive data nodes");
    assertEquals(List.of(List.of("60175")), query(nodes.get(1).port(), "SELECT count(*) FROM lineitem JOIN orders ON "
        + "l_orderkey = o_orderkey"));
  }
}
