package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.arrow.adbc.core.AdbcConnection;
import org.apache.arrow.adbc.core.AdbcDatabase;
import org.apache.arrow.adbc.core.AdbcDriver;
import org.apache.arrow.adbc.core.AdbcStatement;
import org.apache.arrow.adbc.core.BulkIngestMode;
import org.apache.arrow.adbc.driver.flightsql.FlightSqlDriver;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.flight.sql.FlightSqlClient.ExecuteIngestOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableExistsOption;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableNotExistOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.Text;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A million rows into a distributed table on 3 node processes through ADBC Java bulk ingest, and
 * another million through Flight SQL's own bulk ingest command (CommandStatementIngest), each
 * checked shard by shard against a single-node DuckDB oracle. Runs in the ADBC surefire execution
 * (the shaded JDBC driver jar is not on its class path), so it talks ADBC only.
 */
class DistributedIngestTest {
  private static final int ROWS = 1_000_000;
  private static final int BATCH = 100_000;
  private static final Schema SCHEMA = new Schema(List.of(Field.nullable("id", new ArrowType.Int(64, true)),
      Field.nullable("customer", ArrowType.Utf8.INSTANCE),
      Field.nullable("amount", new ArrowType.FloatingPoint(org.apache.arrow.vector.types.FloatingPointPrecision.DOUBLE))));

  @TempDir
  static Path dir;

  private static final List<NodeProcess> nodes = new ArrayList<>();
  private static BufferAllocator allocator;

  @BeforeAll
  static void startCluster() throws Exception {
    allocator = new RootAllocator();
    nodes.addAll(ItCluster.start(dir, "ingest", 3));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      try {
        if (query(0, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'").equals(List.of(List.of(3L)))
            && query(0, "SELECT leader FROM trex_db_raft_status()").get(0).get(0) != null) {
          break;
        }
      } catch (Exception e) {
        // not ready yet
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the cluster did not form within 30 s");
      }
      Thread.sleep(100);
    }
  }

  @AfterAll
  static void stopAll() throws Exception {
    for (NodeProcess n : nodes) {
      n.close();
    }
    allocator.close();
  }

  private static AdbcDatabase open(int node) throws Exception {
    Map<String, Object> params = new HashMap<>();
    AdbcDriver.PARAM_URI.set(params, "grpc+tcp://127.0.0.1:" + nodes.get(node).port());
    return new FlightSqlDriver(allocator).open(params);
  }

  static List<List<Object>> query(int node, String sql) throws Exception {
    try (AdbcDatabase db = open(node); AdbcConnection c = db.connect(); AdbcStatement s = c.createStatement()) {
      s.setSqlQuery(sql);
      try (AdbcStatement.QueryResult r = s.executeQuery()) {
        List<List<Object>> out = new ArrayList<>();
        ArrowReader reader = r.getReader();
        while (reader.loadNextBatch()) {
          VectorSchemaRoot root = reader.getVectorSchemaRoot();
          for (int i = 0; i < root.getRowCount(); i++) {
            List<Object> row = new ArrayList<>();
            for (FieldVector v : root.getFieldVectors()) {
              Object o = v.getObject(i);
              row.add(o instanceof Text t ? t.toString() : o);
            }
            out.add(row);
          }
        }
        return out;
      }
    }
  }

  /** Fills {@code root} with rows {@code from .. from + n - 1}: (id, 'c' || id % 97, id * 0.5). */
  private static void fill(VectorSchemaRoot root, long from, int n) {
    BigIntVector id = (BigIntVector) root.getVector(0);
    VarCharVector customer = (VarCharVector) root.getVector(1);
    Float8Vector amount = (Float8Vector) root.getVector(2);
    root.allocateNew();
    for (int i = 0; i < n; i++) {
      long v = from + i;
      id.setSafe(i, v);
      customer.setSafe(i, new Text("c" + (v % 97)));
      amount.setSafe(i, v * 0.5);
    }
    root.setRowCount(n);
  }

  /** shard id -> [count, sum(id)] from the first copy of each shard. */
  private static Map<Integer, List<Long>> perShard(String table) throws Exception {
    Map<Integer, List<Long>> out = new TreeMap<>();
    for (List<Object> p : query(0, "SELECT partition_id, min(node_name), min(shard_table) FROM trex_db_partitions() "
        + "WHERE table_name = '" + table + "' GROUP BY 1 ORDER BY 1")) {
      int shard = Integer.parseInt(String.valueOf(p.get(0)));
      List<Object> got = query(Integer.parseInt(((String) p.get(1)).substring(1)), "SELECT count(*), "
          + "CAST(coalesce(sum(id), 0) AS BIGINT) FROM " + p.get(2)).get(0);
      out.put(shard, List.of(((Number) got.get(0)).longValue(), ((Number) got.get(1)).longValue()));
    }
    return out;
  }

  private static Map<Integer, List<Long>> oracle(String shardExpr, long from, long to) throws Exception {
    Map<Integer, List<Long>> out = new TreeMap<>();
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT " + shardExpr + ", count(*), CAST(sum(id) AS BIGINT) FROM (SELECT range "
            + "AS id FROM range(" + from + ", " + to + ")) GROUP BY 1")) {
      while (rs.next()) {
        out.put(rs.getInt(1), List.of(rs.getLong(2), rs.getLong(3)));
      }
    }
    return out;
  }

  @Test
  void aMillionRowsThroughAdbcAndFlightSqlIngestLandOnTheirShards() throws Exception {
    assertTrue(((String) query(0, "SELECT trex_db_create_table('CREATE TABLE events (id BIGINT, customer VARCHAR, "
        + "amount DOUBLE)', '{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 6, "
        + "\"replication_factor\": 2}')").get(0).get(0)).contains("6 shards"));
    assertTrue(((String) query(1, "SELECT trex_db_create_table('CREATE TABLE events_by_id (id BIGINT, customer "
        + "VARCHAR, amount DOUBLE)', '{\"strategy\": \"range\", \"column\": \"id\", \"ranges\": [250000, 500000, "
        + "750000]}')").get(0).get(0)).contains("4 shards"));

    // ADBC Java: bulk ingest in append mode (the driver sends a prepared INSERT with the batch)
    long start = System.nanoTime();
    try (AdbcDatabase db = open(1); AdbcConnection c = db.connect();
        VectorSchemaRoot root = VectorSchemaRoot.create(SCHEMA, allocator)) {
      for (int from = 0; from < ROWS; from += BATCH) {
        fill(root, from, BATCH);
        try (AdbcStatement s = c.bulkIngest("events", BulkIngestMode.APPEND)) {
          s.bind(root);
          assertEquals(BATCH, s.executeUpdate().getAffectedRows());
        }
      }
    }
    System.out.printf("1,000,000 rows through ADBC bulk ingest: %.1f s%n", (System.nanoTime() - start) / 1e9);
    assertEquals(oracle("hash(id) % 6", 0, ROWS), perShard("events"));

    // Flight SQL CommandStatementIngest
    start = System.nanoTime();
    try (FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure("127.0.0.1",
        nodes.get(2).port())).build(); FlightSqlClient sql = new FlightSqlClient(client);
        VectorSchemaRoot root = VectorSchemaRoot.create(SCHEMA, allocator)) {
      ExecuteIngestOptions append = new ExecuteIngestOptions("events_by_id", TableDefinitionOptions.newBuilder()
          .setIfNotExist(TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL)
          .setIfExists(TableExistsOption.TABLE_EXISTS_OPTION_APPEND).build(), null, null, null);
      for (int from = 0; from < ROWS; from += BATCH) {
        fill(root, from, BATCH);
        assertEquals(BATCH, sql.executeIngest(root, append));
      }
      System.out.printf("1,000,000 rows through Flight SQL bulk ingest: %.1f s%n", (System.nanoTime() - start) / 1e9);

      // a NULL key anywhere in the batch writes nothing of it
      fill(root, 5_000_000, 10);
      root.getVector(0).setNull(7);
      FlightRuntimeException e = assertThrows(FlightRuntimeException.class, () -> sql.executeIngest(root, append));
      assertTrue(e.getMessage().contains("NULL partition key"), e.getMessage());
      ExecuteIngestOptions replace = new ExecuteIngestOptions("events_by_id", TableDefinitionOptions.newBuilder()
          .setIfNotExist(TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL)
          .setIfExists(TableExistsOption.TABLE_EXISTS_OPTION_REPLACE).build(), null, null, null);
      e = assertThrows(FlightRuntimeException.class, () -> sql.executeIngest(root, replace));
      assertTrue(e.getMessage().contains("can only append"), e.getMessage());
    }
    assertEquals(oracle("CASE WHEN id < 250000 THEN 0 WHEN id < 500000 THEN 1 WHEN id < 750000 THEN 2 ELSE 3 END",
        0, ROWS), perShard("events_by_id"));
    for (int node = 0; node < 3; node++) {
      assertEquals(List.of(List.of(2L * ROWS, 2 * 249999750000L)), query(node, "SELECT count(*), CAST(sum(amount) "
          + "AS BIGINT) FROM (SELECT amount FROM events UNION ALL SELECT amount FROM events_by_id)"));
    }
    // a data node joins: repartitioning with the table's own config spreads its shards onto it
    String seeds = query(0, "SELECT value FROM trex_db_config() WHERE key = 'seeds'").get(0).get(0).toString();
    nodes.add(NodeProcess.start(dir.resolve("d3"), "--node-name=d3", "--cluster-id=ingest",
        "--gossip-port=" + ClusterTest.freeGossipPort(), "--seeds=" + seeds));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!query(0, "SELECT count(*) FROM trex_db_nodes() WHERE status = 'alive'").equals(List.of(List.of(4L)))) {
      assertTrue(System.nanoTime() < deadline, "d3 did not join within 30 s");
      Thread.sleep(100);
    }
    String moved = (String) query(0, "SELECT trex_db_repartition_table('events', '{\"strategy\": \"hash\", "
        + "\"column\": \"id\", \"num_partitions\": 6, \"replication_factor\": 2}')").get(0).get(0);
    assertTrue(moved.contains("hash(id) x6 rf2 -> hash(id) x6 rf2, 6 shard(s) on 4 node(s), 1000000 rows moved"),
        moved);
    assertEquals(List.of(List.of(2L)), query(0, "SELECT count(DISTINCT partition_id) FROM trex_db_partitions() "
        + "WHERE table_name = 'events' AND node_name = 'd3'"), "shards 2 and 3 have a copy on d3 (node 3 of 4)");
    assertEquals(oracle("hash(id) % 6", 0, ROWS), perShard("events"));
  }
}
