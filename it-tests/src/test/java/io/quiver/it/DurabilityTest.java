package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.flight.sql.FlightSqlClient.ExecuteIngestOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableExistsOption;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableNotExistOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Acknowledged writes survive SIGKILL and SIGTERM of the node process (DuckDB file + WAL). */
class DurabilityTest {
  @TempDir
  Path dataDir;

  @Test
  void acknowledgedWritesSurviveKillDashNine() throws Exception {
    try (NodeProcess node = NodeProcess.start(dataDir)) {
      try (Connection c = DriverManager.getConnection(node.jdbcUrl()); Statement s = c.createStatement()) {
        s.executeUpdate("CREATE TABLE durable (id BIGINT, note VARCHAR)");
        assertEquals(1000, s.executeUpdate("INSERT INTO durable SELECT range, 'sql' FROM range(1000)"));
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO durable VALUES (?, ?)")) {
          ps.setLong(1, 5000);
          ps.setString(2, "prepared");
          assertEquals(1, ps.executeUpdate());
        }
      }
      ingest(node.port(), 2000);
      node.kill();
    }
    assertTrue(Files.exists(dataDir.resolve("quiver.duckdb")));
    try (NodeProcess node = NodeProcess.start(dataDir)) {
      assertEquals(List.of(3001L, 1L, 2000L), counts(node));
      try (Connection c = DriverManager.getConnection(node.jdbcUrl()); Statement s = c.createStatement()) {
        s.executeUpdate("DELETE FROM durable WHERE note = 'sql'");
      }
      String log = node.stop();
      assertTrue(log.contains("Quiver node stopped: database closed cleanly"), "SIGTERM shuts the node down cleanly:\n" + log);
      assertTrue(!Files.exists(dataDir.resolve("quiver.duckdb.wal")), "a clean shutdown checkpoints the WAL");
    }
    try (NodeProcess node = NodeProcess.start(dataDir)) {
      assertEquals(List.of(2001L, 1L, 2000L), counts(node));
      // a second node on the same data directory is refused, with the reason
      Exception second = org.junit.jupiter.api.Assertions.assertThrows(Exception.class,
          () -> NodeProcess.start(dataDir).close());
      assertTrue(second.getMessage().contains("lock"), second.getMessage());
    }
  }

  private static List<Long> counts(NodeProcess node) throws Exception {
    try (Connection c = DriverManager.getConnection(node.jdbcUrl()); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*), count(*) FILTER (WHERE note = 'prepared'), "
            + "count(*) FILTER (WHERE note = 'ingest') FROM durable")) {
      rs.next();
      return List.of(rs.getLong(1), rs.getLong(2), rs.getLong(3));
    }
  }

  private static void ingest(int port, int rows) throws Exception {
    try (BufferAllocator allocator = new RootAllocator();
        FlightSqlClient sql = new FlightSqlClient(FlightClient.builder(allocator,
            Location.forGrpcInsecure("127.0.0.1", port)).build());
        VectorSchemaRoot root = VectorSchemaRoot.create(new Schema(List.of(
            Field.nullable("id", new ArrowType.Int(64, true)), Field.nullable("note", ArrowType.Utf8.INSTANCE))),
            allocator)) {
      for (int i = 0; i < rows; i++) {
        ((BigIntVector) root.getVector(0)).setSafe(i, 10_000 + i);
        ((org.apache.arrow.vector.VarCharVector) root.getVector(1)).setSafe(i,
            new org.apache.arrow.vector.util.Text("ingest"));
      }
      root.setRowCount(rows);
      assertEquals(rows, sql.executeIngest(root, new ExecuteIngestOptions("durable", TableDefinitionOptions.newBuilder()
          .setIfNotExist(TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL)
          .setIfExists(TableExistsOption.TABLE_EXISTS_OPTION_APPEND).build(), null, null, null)));
    }
  }
}
