package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.server.cli.FreePorts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three node processes on loopback forming a cluster through gossip: join from seeds, cluster-id
 * isolation, kill -9 detection, restart and rejoin, and every trex_db_* function of the cluster
 * surface through the JDBC driver with the reference's columns. Timings are printed, not asserted
 * tightly (the bounds here only stop a broken build from hanging).
 */
class ClusterTest {
  @TempDir
  Path dir;

  private final List<NodeProcess> nodes = new ArrayList<>();

  @AfterEach
  void stopAll() throws Exception {
    for (NodeProcess n : nodes) {
      n.close();
    }
  }

  /** A free gossip port whose +100 (failure detection), +200 (Raft) and +300 (Raft FD) are free too. */
  static int freeGossipPort() throws IOException {
    return FreePorts.block(300);
  }

  private NodeProcess node(String name, int gossipPort, String clusterId, List<Integer> seeds, String... extra)
      throws Exception {
    List<String> seedList = seeds.stream().map(p -> "127.0.0.1:" + p).toList();
    List<String> args = new ArrayList<>(List.of("--node-name=" + name, "--cluster-id=" + clusterId,
        "--gossip-port=" + gossipPort, "--seeds=" + String.join(",", seedList)));
    args.addAll(List.of(extra));
    NodeProcess n = NodeProcess.start(dir.resolve(name), args.toArray(new String[0]));
    nodes.add(n);
    return n;
  }

  @Test
  void raftKeyValueStoreSurvivesLeaderLossAndRefusesWritesWithoutMajority() throws Exception {
    List<Integer> ports = List.of(freeGossipPort(), freeGossipPort(), freeGossipPort());
    List<String> names = List.of("r0", "r1", "r2");
    List<NodeProcess> raftNodes = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      raftNodes.add(node(names.get(i), ports.get(i), "raft-it", ports, "--raft-members=r0,r1,r2"));
    }
    long elected = eventually("a Raft leader", () -> query(raftNodes.get(0),
        "SELECT leader FROM trex_db_raft_status()").get(0).get(0) != null);
    System.out.println("[cluster timing] first Raft leader elected: " + elected + " ms");
    for (int i = 0; i < 12; i++) {
      assertTrue(scalar(raftNodes.get(i % 3), "SELECT trex_db_kv_put('key-" + i + "', 'value-" + i + "')")
          .startsWith("version 1"));
    }
    assertEquals("version 2", scalar(raftNodes.get(1), "SELECT trex_db_kv_put('key-0', 'changed')"));
    assertEquals("changed", scalar(raftNodes.get(2), "SELECT trex_db_kv_get('key-0')"));
    assertEquals("true", scalar(raftNodes.get(0), "SELECT trex_db_kv_exists('key-5')"));
    assertEquals("true", scalar(raftNodes.get(0), "SELECT trex_db_kv_delete('key-11')"));
    assertEquals("false", scalar(raftNodes.get(1), "SELECT trex_db_kv_exists('key-11')"));
    assertEquals(List.of("raft_id", "role", "leader", "term", "commit_index", "applied_index", "members",
        "reachable_members", "kv_keys", "maybe_stale"), columns(raftNodes.get(0), "SELECT * FROM trex_db_raft_status()"));
    assertEquals(List.of("key", "value", "version", "updated_at", "maybe_stale"),
        columns(raftNodes.get(0), "SELECT * FROM trex_db_kv_list()"));

    // kill the leader: a new one is elected and no acknowledged key is lost
    String leader = scalar(raftNodes.get(0), "SELECT leader FROM trex_db_raft_status()");
    int leaderIndex = names.indexOf(leader);
    raftNodes.get(leaderIndex).kill();
    List<NodeProcess> alive = new ArrayList<>(raftNodes);
    alive.remove(leaderIndex);
    long failover = eventually("a new Raft leader", () -> {
      String now = query(alive.get(0), "SELECT leader FROM trex_db_raft_status()").get(0).get(0);
      return now != null && !now.equals(leader);
    });
    System.out.println("[cluster timing] Raft leader failover: " + failover + " ms");
    for (NodeProcess n : alive) {
      assertEquals("11", scalar(n, "SELECT count(*) FROM trex_db_kv_list()"));
      assertEquals("changed", scalar(n, "SELECT trex_db_kv_get('key-0')"));
    }
    assertEquals("version 1", scalar(alive.get(1), "SELECT trex_db_kv_put('after-failover', 'yes')"));

    // partition the last member away from the other (frozen: alive, unreachable): it is a minority,
    // so writes are refused at once and reads say they may be stale
    NodeProcess frozen = alive.get(1);
    frozen.signal("STOP");
    NodeProcess last = alive.get(0);
    eventually("no leader on the last member", () ->
        query(last, "SELECT leader FROM trex_db_raft_status()").get(0).get(0) == null);
    long before = System.nanoTime();
    SQLException refused = assertThrows(SQLException.class,
        () -> scalar(last, "SELECT trex_db_kv_put('minority', 'no')"));
    assertTrue((System.nanoTime() - before) / 1_000_000 < 5_000, "refused at once, not after a timeout");
    assertTrue(refused.getMessage().contains("NO_QUORUM") && refused.getMessage().contains("majority"),
        refused.getMessage());
    assertEquals(List.of(List.of("true")), query(last, "SELECT DISTINCT maybe_stale FROM trex_db_kv_list()"));

    // the partition heals and the killed leader restarts: writes work again, nothing acknowledged is lost
    frozen.signal("CONT");
    nodes.remove(raftNodes.get(leaderIndex));
    nodes.add(NodeProcess.start(dir.resolve(leader), "--node-name=" + leader, "--cluster-id=raft-it",
        "--gossip-port=" + ports.get(leaderIndex), "--seeds=" + String.join(",", ports.stream()
            .map(p -> "127.0.0.1:" + p).toList()), "--raft-members=r0,r1,r2"));
    eventually("a leader again", () -> query(last, "SELECT leader FROM trex_db_raft_status()").get(0).get(0) != null);
    assertEquals("version 1", scalar(last, "SELECT trex_db_kv_put('majority-back', 'yes')"));
    assertEquals("yes", scalar(last, "SELECT trex_db_kv_get('after-failover')"));
    assertEquals("false", scalar(last, "SELECT trex_db_kv_exists('minority')"), "the refused write did not apply");
    eventually("every member has all 13 keys", () -> {
      for (NodeProcess n : nodes.subList(nodes.size() - 3, nodes.size())) {
        if (!"13".equals(scalar(n, "SELECT count(*) FROM trex_db_kv_list()"))) {
          return false;
        }
      }
      return true;
    });
  }

  private static List<List<String>> query(NodeProcess n, String sql) throws SQLException {
    return ItSql.query(n.port(), sql);
  }

  private static List<String> columns(NodeProcess n, String sql) throws SQLException {
    try (Connection c = DriverManager.getConnection(n.jdbcUrl()); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      ResultSetMetaData md = rs.getMetaData();
      List<String> out = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        assertEquals(java.sql.Types.VARCHAR, md.getColumnType(i), md.getColumnName(i) + " is VARCHAR");
        out.add(md.getColumnName(i));
      }
      return out;
    }
  }

  private static String scalar(NodeProcess n, String sql) throws SQLException {
    return ItSql.scalar(n.port(), sql);
  }

  private static long eventually(String what, Callable<Boolean> condition) throws Exception {
    return ItSql.eventually(what, false, condition);
  }

  private static String statusOf(NodeProcess observer, String name) throws SQLException {
    List<List<String>> rows = query(observer, "SELECT status FROM trex_db_nodes() WHERE node_name = '" + name + "'");
    return rows.isEmpty() ? "absent" : rows.get(0).get(0);
  }

  @Test
  void threeNodesJoinDetectFailureAndRejoin() throws Exception {
    int g0 = freeGossipPort();
    int g1 = freeGossipPort();
    int g2 = freeGossipPort();
    List<Integer> seeds = List.of(g0, g1, g2);
    NodeProcess a = node("a", g0, "it", seeds);
    NodeProcess b = node("b", g1, "it", seeds);
    NodeProcess c = node("c", g2, "it", seeds);
    long joined = eventually("all three alive in every view", () -> {
      for (NodeProcess n : List.of(a, b, c)) {
        if (query(n, "SELECT 1 FROM trex_db_nodes() WHERE status = 'alive'").size() != 3) {
          return false;
        }
      }
      return true;
    });
    System.out.println("[cluster timing] join of 3 nodes: " + joined + " ms");

    // another cluster id on the same seeds stays apart
    NodeProcess stranger = node("x", freeGossipPort(), "other", seeds);
    Thread.sleep(3_000);
    assertEquals(List.of(List.of("x")), query(stranger, "SELECT node_name FROM trex_db_nodes()"));
    assertEquals(3, query(a, "SELECT * FROM trex_db_nodes()").size());

    // node-local tables and custom keys are seen everywhere
    query(b, "SELECT count(*) FROM (SELECT 1)"); // warm
    try (Connection conn = DriverManager.getConnection(b.jdbcUrl()); Statement s = conn.createStatement()) {
      s.executeUpdate("CREATE TABLE b_local AS SELECT range AS id FROM range(42)");
    }
    assertEquals("set team", scalar(c, "SELECT trex_db_set_key('team', 'blue')"));
    eventually("b's table and c's key visible on a", () ->
        query(a, "SELECT node_name, approx_rows FROM trex_db_tables() WHERE table_name = 'b_local'")
            .equals(List.of(List.of("b", "42")))
        && query(a, "SELECT node_name, value FROM trex_db_gossip_keys() WHERE key = 'team'")
            .equals(List.of(List.of("c", "blue"))));
    // ... and readable by name from any node, the rows streamed over Flight from b
    assertEquals(List.of(List.of("42", "861")), query(a, "SELECT count(*), sum(id) FROM b_local"));
    assertEquals(List.of(List.of("3")), query(c, "SELECT count(*) FROM b_local WHERE id < 3"));
    assertEquals("deleted team", scalar(c, "SELECT trex_db_delete_key('team')"));
    eventually("deleted key gone on a", () -> query(a, "SELECT * FROM trex_db_gossip_keys()").isEmpty());

    // kill -9: b is dead in every view and its tables are gone
    b.kill();
    long detected = eventually("b dead in a's and c's view", () ->
        statusOf(a, "b").equals("dead") && statusOf(c, "b").equals("dead"));
    System.out.println("[cluster timing] kill -9 detected as dead: " + detected + " ms");
    assertTrue(query(a, "SELECT * FROM trex_db_tables() WHERE table_name = 'b_local'").isEmpty());
    assertTrue(query(c, "SELECT * FROM trex_db_tables() WHERE node_name = 'b'").isEmpty());
    SQLException gone = assertThrows(SQLException.class, () -> query(a, "SELECT count(*) FROM b_local"));
    assertTrue(gone.getMessage().contains("b_local"), gone.getMessage());
    assertEquals(2, query(a, "SELECT * FROM trex_db_services() WHERE service_name = 'flight'").size());

    // restart with the same data dir: the same member rejoins, with its data
    nodes.remove(b);
    NodeProcess b2 = NodeProcess.start(dir.resolve("b"), "--node-name=b", "--cluster-id=it", "--gossip-port=" + g1,
        "--seeds=127.0.0.1:" + g0 + ",127.0.0.1:" + g2);
    nodes.add(b2);
    long rejoined = eventually("b alive again with its table", () -> statusOf(a, "b").equals("alive")
        && query(c, "SELECT approx_rows FROM trex_db_tables() WHERE table_name = 'b_local'")
            .equals(List.of(List.of("42"))));
    System.out.println("[cluster timing] restart to rejoin: " + rejoined + " ms");
    assertEquals(3, query(a, "SELECT * FROM trex_db_nodes()").size(), "the same node id, not a new member");

    // a hung node (SIGSTOP) turns suspect, then dead; resumed, it comes back by itself
    c.signal("STOP");
    long suspect = eventually("c suspect on a", () -> !statusOf(a, "c").equals("alive"));
    long dead = eventually("c dead on a", () -> statusOf(a, "c").equals("dead"));
    System.out.println("[cluster timing] SIGSTOP: suspect after ~" + suspect + " ms, dead after ~" + (suspect + dead)
        + " ms");
    c.signal("CONT");
    long back = eventually("c alive again on a", () -> statusOf(a, "c").equals("alive"));
    System.out.println("[cluster timing] SIGCONT to alive: " + back + " ms");
  }

  @Test
  void everyClusterFunctionHasTheReferenceShape() throws Exception {
    int g0 = freeGossipPort();
    NodeProcess a = node("solo", g0, "fn", List.of());
    assertEquals(List.of("node_id", "node_name", "gossip_addr", "data_node", "status"),
        columns(a, "SELECT * FROM trex_db_nodes()"));
    assertEquals(List.of("key", "value"), columns(a, "SELECT * FROM trex_db_config()"));
    // (the JDBC driver 18.3 lists an empty result's columns twice, so give the node a table first)
    try (Connection conn = DriverManager.getConnection(a.jdbcUrl()); Statement s = conn.createStatement()) {
      s.executeUpdate("CREATE TABLE shaped AS SELECT 1 AS x");
    }
    eventually("the new table gossiped", () -> !query(a, "SELECT * FROM trex_db_tables()").isEmpty());
    assertEquals(List.of("node_name", "table_name", "approx_rows", "schema_hash"),
        columns(a, "SELECT * FROM trex_db_tables()"));
    assertEquals(List.of("node_name", "service_name", "host", "port", "status", "uptime_seconds", "config"),
        columns(a, "SELECT * FROM trex_db_services()"));
    assertEquals(List.of("hostname", "port", "uptime_seconds", "tls_enabled"),
        columns(a, "SELECT * FROM trex_db_flight_status()"));
    assertEquals(List.of(List.of("127.0.0.1", Integer.toString(a.port()), "false")),
        query(a, "SELECT hostname, port, tls_enabled FROM trex_db_flight_status()"));
    assertTrue(scalar(a, "SELECT trex_db_flight_version()").startsWith("Quiver "));
    assertEquals(List.of(List.of("fn")), query(a, "SELECT value FROM trex_db_config() WHERE key = 'cluster_id'"));

    assertEquals("data_node = false", scalar(a, "SELECT trex_db_set('data_node', 'false')"));
    assertEquals(List.of(List.of("false")), query(a, "SELECT data_node FROM trex_db_nodes()"));
    assertEquals("data_node = true", scalar(a, "SELECT trex_db_set('data_node', 'true')"));
    assertEquals("registered service pgwire at 127.0.0.1:5432",
        scalar(a, "SELECT trex_db_register_service('pgwire', '127.0.0.1', 5432)"));
    assertEquals(List.of(List.of("pgwire", "5432", "registered")),
        query(a, "SELECT service_name, port, status FROM trex_db_services() WHERE service_name = 'pgwire'"));

    SQLException already = assertThrows(SQLException.class,
        () -> scalar(a, "SELECT trex_db_start('127.0.0.1', " + g0 + ", 'fn')"));
    assertTrue(already.getMessage().contains("already running"), already.getMessage());
    assertEquals("left cluster 'fn'", scalar(a, "SELECT trex_db_stop()"));
    assertEquals(List.of(List.of("stopped")), query(a, "SELECT value FROM trex_db_config() WHERE key = 'gossip'"));
    assertTrue(scalar(a, "SELECT trex_db_start_seeds('127.0.0.1', " + g0 + ", 'fn2', '127.0.0.1:" + g0 + "')")
        .startsWith("joined cluster 'fn2'"));
    assertEquals(List.of(List.of("fn2")), query(a, "SELECT value FROM trex_db_config() WHERE key = 'cluster_id'"));

    SQLException notYet = assertThrows(SQLException.class,
        () -> scalar(a, "SELECT trex_db_start_service('pgwire', '{}')"));
    assertTrue(notYet.getMessage().contains("not supported yet"), notYet.getMessage());
    assertEquals("deregistered service pgwire", scalar(a, "SELECT trex_db_stop_service('pgwire')"));
    SQLException missing = assertThrows(SQLException.class, () -> scalar(a, "SELECT trex_db_load('/no/such.jar')"));
    assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());
    Path notAJar = Files.writeString(dir.resolve("plugin.jar"), "not a zip");
    SQLException invalid = assertThrows(SQLException.class, () -> scalar(a, "SELECT trex_db_load('" + notAJar + "')"));
    assertTrue(invalid.getMessage().contains("not a valid jar"), invalid.getMessage());
    SQLException badKey = assertThrows(SQLException.class, () -> scalar(a, "SELECT trex_db_delete_key('never-set')"));
    assertTrue(badKey.getMessage().contains("never-set"), badKey.getMessage());
  }
}
