package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.adbc.core.AdbcConnection;
import org.apache.arrow.adbc.core.AdbcDatabase;
import org.apache.arrow.adbc.core.AdbcDriver;
import org.apache.arrow.adbc.core.AdbcException;
import org.apache.arrow.adbc.core.AdbcStatement;
import org.apache.arrow.adbc.core.BulkIngestMode;
import org.apache.arrow.adbc.driver.flightsql.FlightSqlDriver;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.Text;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The real ADBC Flight SQL driver (Java, 0.20.0) against a real node. This driver has no
 * statement cancel (it throws "Statement does not support cancel"); cancellation is covered with
 * Arrow's FlightSqlClient and with the Python ADBC driver. Runs in its own surefire execution: the
 * shaded JDBC driver jar carries an incompatible copy of a class this driver uses.
 */
class AdbcDriverTest {
  private static TestNode node;
  private BufferAllocator allocator;
  private AdbcDatabase database;
  private AdbcConnection conn;

  @BeforeAll
  static void startNode() throws Exception {
    node = TestNode.start();
  }

  @BeforeEach
  void connect() throws Exception {
    allocator = new RootAllocator();
    Map<String, Object> params = new HashMap<>();
    AdbcDriver.PARAM_URI.set(params, node.adbcUri());
    database = new FlightSqlDriver(allocator).open(params);
    conn = database.connect();
  }

  @AfterEach
  void close() throws Exception {
    conn.close();
    database.close();
    allocator.close();
    node.assertNoLeaks();
  }

  @AfterAll
  static void stopNode() throws Exception {
    node.close();
  }

  private long update(String sql) throws Exception {
    try (AdbcStatement s = conn.createStatement()) {
      s.setSqlQuery(sql);
      return s.executeUpdate().getAffectedRows();
    }
  }

  private List<List<Object>> query(String sql) throws Exception {
    try (AdbcStatement s = conn.createStatement()) {
      s.setSqlQuery(sql);
      try (AdbcStatement.QueryResult r = s.executeQuery()) {
        return rows(r.getReader());
      }
    }
  }

  private static List<List<Object>> rows(ArrowReader reader) throws Exception {
    List<List<Object>> out = new ArrayList<>();
    while (reader.loadNextBatch()) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      for (int r = 0; r < root.getRowCount(); r++) {
        List<Object> row = new ArrayList<>();
        for (FieldVector v : root.getFieldVectors()) {
          Object o = v.getObject(r);
          row.add(o instanceof Text t ? t.toString() : o);
        }
        out.add(row);
      }
    }
    return out;
  }

  @Test
  void queriesAndUpdates() throws Exception {
    update("CREATE TABLE adbc_t (id BIGINT, name VARCHAR, price DECIMAL(10,2))");
    assertEquals(2, update("INSERT INTO adbc_t VALUES (1, 'one', 1.50), (2, 'two', 2.25)"));
    assertEquals(List.of(List.of(1L, "one", new BigDecimal("1.50")), List.of(2L, "two", new BigDecimal("2.25"))),
        query("SELECT * FROM adbc_t ORDER BY id"));
    assertEquals(1, update("DELETE FROM adbc_t WHERE id = 2"));
    assertEquals(List.of(List.of(1L)), query("SELECT count(*) FROM adbc_t"));
  }

  @Test
  void typesMatchTheJdbcExpectations() throws Exception {
    update(TypesFixture.CREATE_ENUM.replace("mood", "adbc_mood"));
    update(TypesFixture.CREATE.replace("all_types", "adbc_types").replace("::mood", "::adbc_mood"));
    try (AdbcStatement s = conn.createStatement()) {
      s.setSqlQuery("SELECT * FROM adbc_types ORDER BY t_integer NULLS LAST");
      try (AdbcStatement.QueryResult r = s.executeQuery()) {
        ArrowReader reader = r.getReader();
        assertTrue(reader.loadNextBatch());
        VectorSchemaRoot root = reader.getVectorSchemaRoot();
        Schema schema = root.getSchema();
        assertEquals(new ArrowType.Int(64, true), schema.findField("t_bigint").getType());
        assertEquals(new ArrowType.Decimal(38, 0, 128), schema.findField("t_hugeint").getType());
        assertEquals(ArrowType.Utf8.INSTANCE, schema.findField("t_enum").getType());
        assertEquals(4L, root.getVector("t_bigint").getObject(0));
        assertEquals(new BigDecimal("170141183460469231731687303715884105727"), root.getVector("t_hugeint").getObject(0));
        assertEquals(new BigDecimal("12345.67"), root.getVector("t_decimal").getObject(0));
        assertEquals("héllo", root.getVector("t_varchar").getObject(0).toString());
        assertEquals("happy", root.getVector("t_enum").getObject(0).toString());
        assertEquals("123e4567-e89b-12d3-a456-426614174000", root.getVector("t_uuid").getObject(0).toString());
        assertEquals(java.time.LocalDateTime.of(2024, 2, 29, 13, 14, 15, 123_456_000),
            root.getVector("t_timestamp").getObject(0));
        assertEquals(List.of(1, 2, 3), ((ListVector) root.getVector("t_list")).getObject(0));
        assertEquals(1, ((StructVector) root.getVector("t_struct")).getObject(0).get("a"));
        for (FieldVector v : root.getFieldVectors()) {
          assertTrue(v.isNull(1), "NULL in " + v.getName());
        }
      }
    }
  }

  @Test
  void preparedStatementWithBoundParameters() throws Exception {
    try (AdbcStatement s = conn.createStatement()) {
      s.setSqlQuery("SELECT CAST(? AS BIGINT) + 1 AS next, concat(CAST(? AS VARCHAR), '!') AS shout");
      s.prepare();
      Schema params = new Schema(List.of(Field.nullable("a", new ArrowType.Int(64, true)),
          Field.nullable("b", ArrowType.Utf8.INSTANCE)));
      try (VectorSchemaRoot root = VectorSchemaRoot.create(params, allocator)) {
        ((BigIntVector) root.getVector(0)).setSafe(0, 41);
        ((VarCharVector) root.getVector(1)).setSafe(0, new Text("hey"));
        root.setRowCount(1);
        s.bind(root);
        try (AdbcStatement.QueryResult r = s.executeQuery()) {
          assertEquals(List.of(List.of(42L, "hey!")), rows(r.getReader()));
        }
      }
    }
  }

  /**
   * ADBC Java 0.20 does not send CommandStatementIngest: it writes its own CREATE TABLE (every
   * integer width as INT, text as CLOB, DOUBLE not at all) and then a prepared INSERT with all rows
   * bound at once. Quiver accepts CLOB as VARCHAR so CREATE mode works; BIGINT is preserved when the
   * table exists (APPEND). Exact type preservation through CommandStatementIngest is covered by the
   * Flight SQL and Python suites.
   */
  @Test
  void bulkIngestCreatesAndAppendsAllRows() throws Exception {
    Schema schema = new Schema(List.of(Field.nullable("id", new ArrowType.Int(64, true)),
        Field.nullable("label", ArrowType.Utf8.INSTANCE)));
    update("CREATE TABLE adbc_ingest (id BIGINT, label VARCHAR)");
    try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
      for (int i = 0; i < 500; i++) {
        ((BigIntVector) root.getVector(0)).setSafe(i, i);
        ((VarCharVector) root.getVector(1)).setSafe(i, new Text("l" + i));
      }
      root.setRowCount(500);
      for (int round = 0; round < 2; round++) {
        try (AdbcStatement s = conn.bulkIngest("adbc_ingest", BulkIngestMode.APPEND)) {
          s.bind(root);
          assertEquals(500, s.executeUpdate().getAffectedRows());
        }
      }
      try (AdbcStatement s = conn.bulkIngest("adbc_created", BulkIngestMode.CREATE)) {
        s.bind(root);
        assertEquals(500, s.executeUpdate().getAffectedRows());
      }
    }
    assertEquals(List.of(List.of(1000L, 249500L)),
        query("SELECT count(*), CAST(sum(id) AS BIGINT) FROM adbc_ingest"));
    assertEquals(List.of(List.of(500L, "l499")), query("SELECT count(*), max(label) FILTER (WHERE id = 499) "
        + "FROM adbc_created"));
    assertEquals(List.of(List.of("BIGINT")),
        query("SELECT data_type FROM information_schema.columns WHERE table_name = 'adbc_ingest' AND column_name = 'id'"));
    try (AdbcStatement s = conn.createStatement()) {
      s.setSqlQuery("SELECT * FROM adbc_ingest");
      assertEquals(new ArrowType.Int(64, true), s.executeSchema().findField("id").getType());
    }
  }

  @Test
  void getObjectsListsCatalogsSchemasTablesAndColumns() throws Exception {
    update("CREATE TABLE objects_t (k INTEGER, v VARCHAR)");
    try (ArrowReader reader = conn.getObjects(AdbcConnection.GetObjectsDepth.ALL, null, null, "objects_t", null, null)) {
      String dump = rows(reader).toString();
      assertTrue(dump.contains("quiver"), dump);
      assertTrue(dump.contains("main"), dump);
      assertTrue(dump.contains("objects_t"), dump);
      assertTrue(dump.contains("\"k\"") || dump.contains("k"), dump);
    }
  }

  @Test
  void errorsCarryTheServerMessage() throws Exception {
    AdbcException e = assertThrows(AdbcException.class, () -> query("SELECT * FROM missing_adbc_table"));
    assertTrue(e.getMessage().contains("missing_adbc_table"), e.getMessage());
    assertEquals(List.of(List.of(1)), query("SELECT 1"));
  }
}
