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
  void connectionsNeedAStartedEngine() {
    DuckDbEngine engine = new DuckDbEngine(dir);
    QuiverException e = assertThrows(QuiverException.class, engine::newConnection);
    assertEquals(ErrorCode.SERVER_SHUTTING_DOWN, e.errorCode());
  }
}
