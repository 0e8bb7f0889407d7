package io.quiver.catalog.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBConnection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DuckDbEngineTest {
  @TempDir
  Path dir;

  @Test
  void errorsAreClassifiedByDuckDbsErrorClass() {
    assertEquals(ErrorCode.SYNTAX_ERROR, DuckDbErrors.classify("Parser Error: syntax error at or near \"x\""));
    assertEquals(ErrorCode.TABLE_NOT_FOUND, DuckDbErrors.classify("Catalog Error: Table with name t does not exist!"));
    assertEquals(ErrorCode.ALREADY_EXISTS, DuckDbErrors.classify("Catalog Error: Table with name t already exists!"));
    assertEquals(ErrorCode.BINDER_ERROR, DuckDbErrors.classify("Binder Error: column x not found"));
    assertEquals(ErrorCode.TYPE_MISMATCH, DuckDbErrors.classify("Conversion Error: Could not convert"));
    assertEquals(ErrorCode.CONSTRAINT_VIOLATION, DuckDbErrors.classify("Constraint Error: Duplicate key"));
    assertEquals(ErrorCode.QUERY_CANCELLED, DuckDbErrors.classify("INTERRUPT Error: Interrupted!"));
    assertEquals(ErrorCode.OUT_OF_MEMORY, DuckDbErrors.classify("Out of Memory Error: failed to allocate"));
    assertEquals(ErrorCode.IO_ERROR, DuckDbErrors.classify("IO Error: Could not set lock on file"));
    assertEquals(ErrorCode.NOT_SUPPORTED, DuckDbErrors.classify("Not implemented Error: x"));
  }

  @Test
  void everyConnectionRunsWithoutTheOptimizersThatMisfireOnShards() throws Exception {
    try (DuckDbEngine engine = new DuckDbEngine(dir)) {
      engine.start();
      try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT current_setting('disabled_optimizers')")) {
        rs.next();
        assertEquals(DuckDbEngine.DISABLED_OPTIMIZERS, rs.getString(1));
      }
    }
  }

  @Test
  void dataSurvivesReopen() throws Exception {
    try (DuckDbEngine engine = new DuckDbEngine(dir)) {
      engine.start();
      try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement()) {
        s.execute("CREATE TABLE kept AS SELECT 7 AS v");
      }
    }
    try (DuckDbEngine engine = new DuckDbEngine(dir)) {
      engine.start();
      try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT v FROM kept")) {
        assertTrue(rs.next());
        assertEquals(7, rs.getInt(1));
      }
    }
  }

  @Test
  void schemasAreDerivedWithoutRunningTheStatement() throws Exception {
    try (DuckDbEngine engine = new DuckDbEngine(dir); RootAllocator allocator = new RootAllocator()) {
      engine.start();
      try (DuckDBConnection c = engine.newConnection()) {
        Schema s = ArrowSchemas.derive(c, allocator, List.of("a", "b", "e", "u"),
            List.of("BIGINT", "DECIMAL(12,3)", "ENUM", "UNKNOWN"));
        assertEquals(new ArrowType.Int(64, true), s.getFields().get(0).getType());
        assertEquals(new ArrowType.Decimal(12, 3, 128), s.getFields().get(1).getType());
        assertEquals(ArrowType.Utf8.INSTANCE, s.getFields().get(2).getType());
        assertEquals(ArrowType.Utf8.INSTANCE, s.getFields().get(3).getType());
        assertEquals(0, allocator.getAllocatedMemory());
      }
    }
  }

  @Test
  void aLearnedSchemaIsTheOneDuckDbExportsForTheRealResult() throws Exception {
    String sql = "SELECT 1::TINYINT AS a, 2::UINTEGER AS b, 3::HUGEINT AS c, 4.5::FLOAT AS d, 4.5::DOUBLE AS e, "
        + "12.34::DECIMAL(15,2) AS f, 'x' AS g, DATE '2024-02-29' AS h, TIMESTAMP '2024-01-01 10:00:00' AS i, "
        + "TIMESTAMPTZ '2024-01-01 10:00:00+02' AS j, INTERVAL 3 DAY AS k, true AS l, '\\x01'::BLOB AS m, "
        + "[1, 2] AS n, {'p': 1, 'q': 'r'} AS o, TIME '10:00:00' AS p, uuid() AS q, 1::USMALLINT AS r";
    try (DuckDbEngine engine = new DuckDbEngine(dir); RootAllocator allocator = new RootAllocator()) {
      engine.start();
      for (int round = 0; round < 2; round++) { // learned from DuckDB, then from what was learned
        try (DuckDBConnection c = engine.newConnection(); java.sql.PreparedStatement ps = c.prepareStatement(sql)) {
          Schema derived = ArrowSchemas.ofResult(c, allocator, ps.getMetaData());
          try (org.duckdb.DuckDBResultSet rs = (org.duckdb.DuckDBResultSet) ps.executeQuery();
              org.apache.arrow.vector.ipc.ArrowReader reader = (org.apache.arrow.vector.ipc.ArrowReader)
                  rs.arrowExportStream(allocator, 16)) {
            assertEquals(reader.getVectorSchemaRoot().getSchema(), derived);
          }
        }
      }
      // the time zone every connection starts with, whatever the host's
      try (DuckDBConnection c = engine.newConnection(); Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT current_setting('TimeZone')")) {
        rs.next();
        assertEquals("UTC", rs.getString(1));
      }
    }
  }

  @Test
  void connectionsNeedAStartedEngine() {
    DuckDbEngine engine = new DuckDbEngine(dir);
    QuiverException e = assertThrows(QuiverException.class, engine::newConnection);
    assertEquals(ErrorCode.SERVER_SHUTTING_DOWN, e.errorCode());
  }
}
