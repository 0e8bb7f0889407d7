package io.quiver.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeConfigTest {
  @Test
  void defaultsAreTheDocumentedOnes() {
    NodeConfig d = NodeConfig.defaults();
    assertEquals("127.0.0.1", d.host());
    assertEquals(31337, d.flightPort());
    assertEquals(Path.of("data"), d.dataDir());
    assertEquals(Duration.ofMinutes(5), d.resultTtl());
    assertEquals(Duration.ofHours(1), d.preparedStatementIdleTimeout());
    assertEquals(65_536, d.batchRows());
    assertEquals(16, d.queryThreads());
    assertEquals(1L << 30, d.queryMemoryBytes());
    assertEquals(512L << 20, d.shuffleMemoryBytes());
    assertEquals(d, NodeConfig.fromMap(Map.of()));
  }

  @Test
  void everyKeyIsRead() {
    NodeConfig c = NodeConfig.fromMap(Map.of("host", "0.0.0.0", "flight-port", "0", "data-dir", "/tmp/x",
        "result-ttl", "30s", "prepared-idle-timeout", "PT2M", "batch-rows", "1024", "query-threads", "4",
        "query-memory", "1048576", "shuffle-memory", "0", "engine-threads", "3"));
    assertEquals(new NodeConfig("0.0.0.0", 0, Path.of("/tmp/x"), Duration.ofSeconds(30), Duration.ofMinutes(2), 1024,
        4, 1L << 20, 0, 3), c);
    assertEquals(3, c.effectiveEngineThreads());
    assertEquals(Runtime.getRuntime().availableProcessors(), NodeConfig.defaults().effectiveEngineThreads());
  }

  @Test
  void unknownKeysAndBadValuesAreErrorsNamingTheKey() {
    QuiverException unknown = assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("flight_port", "1")));
    assertEquals(ErrorCode.INVALID_ARGUMENT, unknown.errorCode());
    assertTrue(unknown.getMessage().contains("flight_port"), unknown.getMessage());
    assertTrue(assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("flight-port", "99999")))
        .getMessage().contains("flight-port"));
    assertTrue(assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("batch-rows", "many")))
        .getMessage().contains("'many' is not a whole number"));
    assertTrue(assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("result-ttl", "soon")))
        .getMessage().contains("result-ttl"));
    assertTrue(assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("result-ttl", "0s")))
        .getMessage().contains("result-ttl must be positive"));
    assertTrue(assertThrows(QuiverException.class, () -> NodeConfig.fromMap(Map.of("shuffle-memory", "-1")))
        .getMessage().contains("shuffle-memory must not be negative"));
  }

  @Test
  void durationsAcceptUnitsAndIso() {
    assertEquals(Duration.ofMillis(500), NodeConfig.parseDuration("500ms", "k"));
    assertEquals(Duration.ofMinutes(5), NodeConfig.parseDuration("5m", "k"));
    assertEquals(Duration.ofHours(1), NodeConfig.parseDuration("1h", "k"));
    assertEquals(Duration.ofSeconds(90), NodeConfig.parseDuration("PT90S", "k"));
  }
}
