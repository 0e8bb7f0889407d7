package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Distributed tables on 3 node processes: creation with hash, range and replicated configs, the
 * refusals of bad configs, trex_db_partitions(), and reads of the whole table from any node, also
 * with a node down when every shard has 2 copies. (Writes are routed by a later part of the
 * partitioning issue; here the shards are filled directly.)
 */
class DistributedTablesTest {
  @TempDir
  Path dir;

  private final List<NodeProcess> nodes = new ArrayList<>();

  @AfterEach
  void stopAll() throws Exception {
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

  @Test
  void createPlaceAndReadDistributedTables() throws Exception {
    List<Integer> gossip = List.of(ClusterTest.freeGossipPort(), ClusterTest.freeGossipPort(),
        ClusterTest.freeGossipPort());
    String seeds = String.join(",", gossip.stream().map(p -> "127.0.0.1:" + p).toList());
    for (int i = 0; i < 3; i++) {
      nodes.add(NodeProcess.start(dir.resolve("d" + i), "--node-name=d" + i, "--cluster-id=dist",
          "--gossip-port=" + gossip.get(i), "--seeds=" + seeds, "--raft-members=d0,d1,d2"));
    }
    int p0 = nodes.get(0).port();
    eventually("3 alive nodes and a Raft leader", () -> query(p0, "SELECT count(*) FROM trex_db_nodes() WHERE status "
        + "= 'alive'").get(0).get(0).equals("3") && query(p0, "SELECT leader FROM trex_db_raft_status()").get(0).get(0)
        != null);

    assertEquals("created distributed table orders (hash, 4 shards on 3 node(s))", query(p0,
        "SELECT trex_db_create_table('CREATE TABLE orders (id BIGINT, customer VARCHAR, amount DOUBLE)', "
        + "'{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4, \"replication_factor\": 2}')")
        .get(0).get(0));
    assertTrue(query(p0, "SELECT trex_db_create_table('CREATE TABLE by_day (day DATE, n INTEGER)', "
        + "'{\"strategy\": \"range\", \"column\": \"day\", \"ranges\": [\"2024-01-01\", \"2024-07-01\"]}')")
        .get(0).get(0).contains("range, 3 shards"));
    assertTrue(query(p0, "SELECT trex_db_create_table('CREATE TABLE nation (code INTEGER, name VARCHAR)', "
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
        + "WHERE table_name = 'nation'"));

    // fill every copy of every shard (10 rows each), then read the whole table from every node
    Map<String, Integer> ports = Map.of("d0", nodes.get(0).port(), "d1", nodes.get(1).port(), "d2",
        nodes.get(2).port());
    for (List<String> p : placements) {
      int shard = Integer.parseInt(p.get(0));
      update(ports.get(p.get(1)), "INSERT INTO orders_" + shard + " SELECT " + shard + " * 100 + range, 'c', 1.5 "
          + "FROM range(10)");
    }
    for (NodeProcess n : nodes) {
      assertEquals(List.of(List.of("40", "6180")), query(n.port(), "SELECT count(*), sum(id) FROM orders"));
    }
    for (String write : List.of("INSERT INTO orders VALUES (1, 'c', 1.0)", "UPDATE orders SET amount = 2",
        "DELETE FROM orders")) {
      SQLException e = assertThrows(SQLException.class, () -> update(p0, write));
      assertTrue(e.getMessage().contains("NOT_SUPPORTED") && e.getMessage().contains("'orders'"), e.getMessage());
    }
    update(p0, "INSERT INTO nation_0 VALUES (1, 'x')");
    assertEquals(List.of(List.of("1")), query(p0, "SELECT count(*) FROM nation"));

    // kill a node: every shard still has an alive copy, so everything is still read
    nodes.get(1).kill();
    eventually("the whole table readable without d1", () ->
        query(p0, "SELECT count(*), sum(id) FROM orders").equals(List.of(List.of("40", "6180")))
        && query(nodes.get(2).port(), "SELECT count(*) FROM orders").equals(List.of(List.of("40"))));
  }
}
