package io.quiver.it;

import static org.junit.jupiter.api.Assertions.fail;

import io.quiver.server.NodeConfig;
import io.quiver.server.QuiverNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;

/**
 * A real node on an ephemeral loopback port with its own DuckDB file, started in the test JVM so
 * tests can assert that its Arrow memory is back to zero after every test.
 */
final class TestNode implements AutoCloseable {
  private final Path dataDir;
  private final QuiverNode node;

  private TestNode(Path dataDir, QuiverNode node) {
    this.dataDir = dataDir;
    this.node = node;
  }

  static TestNode start() throws IOException {
    return start(NodeConfig.DEFAULT_RESULT_TTL);
  }

  static TestNode start(Duration resultTtl) throws IOException {
    Path dir = Files.createTempDirectory("quiver-it");
    NodeConfig config = NodeConfig.defaults().withFlightPort(0).withDataDir(dir).withResultTtl(resultTtl);
    return new TestNode(dir, new QuiverNode(config).start());
  }

  int port() {
    return node.port();
  }

  QuiverNode node() {
    return node;
  }

  String jdbcUrl() {
    return "jdbc:arrow-flight-sql://127.0.0.1:" + port() + "/?useEncryption=false";
  }

  String adbcUri() {
    return "grpc+tcp://127.0.0.1:" + port();
  }

  /**
   * Fails unless every query ended and released its memory. Buffers of the last batches may sit
   * in gRPC's queue briefly after a stream ends, so this waits a bounded time.
   */
  void assertNoLeaks() throws InterruptedException {
    BufferAllocator root = node.allocator();
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (System.nanoTime() < deadline) {
      if (root.getAllocatedMemory() == 0 && root.getChildAllocators().isEmpty() && node.activeQueries() == 0) {
        return;
      }
      Thread.sleep(20);
    }
    fail("node still holds Arrow memory after the test: " + root.getAllocatedMemory() + " bytes, "
        + node.activeQueries() + " active queries\n" + root.toVerboseString());
  }

  /** Waits (bounded) until no query runs on the node; returns whether it got there. */
  boolean awaitIdle(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (node.activeQueries() == 0) {
        return true;
      }
      Thread.sleep(20);
    }
    return false;
  }

  @Override
  public void close() throws IOException {
    node.close();
    try (Stream<Path> paths = Files.walk(dataDir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
