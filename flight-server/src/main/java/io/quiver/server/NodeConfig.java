package io.quiver.server;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Typed, validated configuration of one node. Every key has a documented default; {@link
 * #fromMap(Map)} rejects unknown keys. The CLI ({@code ./quiver start|node --help}) exposes the same
 * keys as options.
 *
 * @param host address the Flight server binds to (default {@code 127.0.0.1})
 * @param flightPort Flight SQL port; 0 picks a free port (default 31337)
 * @param dataDir directory holding the DuckDB file and logs (default {@code ./data})
 * @param resultTtl how long an executed query's result waits for its DoGet before it is cancelled
 *     (default 5 minutes)
 * @param preparedStatementIdleTimeout a prepared statement unused this long is closed (default 1 hour)
 * @param batchRows rows per Arrow record batch streamed to clients (default 65536)
 * @param queryThreads threads executing statements (default 16)
 * @param queryMemoryBytes Arrow memory one query may hold (default 1 GiB)
 * @param shuffleMemoryBytes Arrow memory the shuffles arriving at this node may hold together
 *     before they spill to {@code <data-dir>/tmp/shuffle} (default 512 MiB; one exchange holds at
 *     most a quarter of its query's budget)
 * @param engineThreads DuckDB worker threads (default 0: one per available processor); nodes that
 *     share one host share its cores, so {@code cluster start} gives each its share
 */
public record NodeConfig(
    String host,
    int flightPort,
    Path dataDir,
    Duration resultTtl,
    Duration preparedStatementIdleTimeout,
    int batchRows,
    int queryThreads,
    long queryMemoryBytes,
    long shuffleMemoryBytes,
    int engineThreads) {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_FLIGHT_PORT = 31337;
  public static final Path DEFAULT_DATA_DIR = Path.of("data");
  public static final Duration DEFAULT_RESULT_TTL = Duration.ofMinutes(5);
  public static final Duration DEFAULT_PREPARED_IDLE = Duration.ofHours(1);
  public static final int DEFAULT_BATCH_ROWS = 65_536;
  public static final int DEFAULT_QUERY_THREADS = 16;
  public static final long DEFAULT_QUERY_MEMORY = 1L << 30;
  public static final long DEFAULT_SHUFFLE_MEMORY = 512L << 20;

  public NodeConfig {
    require(host != null && !host.isBlank(), "host", "must not be empty");
    require(flightPort >= 0 && flightPort <= 65_535, "flight-port", "must be between 0 and 65535, got " + flightPort);
    Objects.requireNonNull(dataDir, "dataDir");
    require(resultTtl != null && !resultTtl.isNegative() && !resultTtl.isZero(), "result-ttl", "must be positive");
    require(preparedStatementIdleTimeout != null && !preparedStatementIdleTimeout.isNegative()
        && !preparedStatementIdleTimeout.isZero(), "prepared-idle-timeout", "must be positive");
    require(batchRows >= 1 && batchRows <= 1_048_576, "batch-rows", "must be between 1 and 1048576, got " + batchRows);
    require(queryThreads >= 1 && queryThreads <= 1024, "query-threads", "must be between 1 and 1024, got " + queryThreads);
    require(queryMemoryBytes >= 1 << 20, "query-memory", "must be at least 1 MiB, got " + queryMemoryBytes);
    require(shuffleMemoryBytes >= 0, "shuffle-memory", "must not be negative, got " + shuffleMemoryBytes);
    require(engineThreads >= 0 && engineThreads <= 1024, "engine-threads",
        "must be between 0 (one per available processor) and 1024, got " + engineThreads);
  }

  /** The DuckDB worker threads this node runs with: {@link #engineThreads}, or one per available processor. */
  public int effectiveEngineThreads() {
    return engineThreads > 0 ? engineThreads : Runtime.getRuntime().availableProcessors();
  }

  public static NodeConfig defaults() {
    return new NodeConfig(DEFAULT_HOST, DEFAULT_FLIGHT_PORT, DEFAULT_DATA_DIR, DEFAULT_RESULT_TTL,
        DEFAULT_PREPARED_IDLE, DEFAULT_BATCH_ROWS, DEFAULT_QUERY_THREADS, DEFAULT_QUERY_MEMORY, DEFAULT_SHUFFLE_MEMORY, 0);
  }

  /**
   * Builds a config from {@code key → value} strings (the CLI option names without dashes).
   * Unknown keys are an error.
   */
  public static NodeConfig fromMap(Map<String, String> values) {
    Map<String, String> rest = new TreeMap<>(values);
    NodeConfig d = defaults();
    NodeConfig c = new NodeConfig(
        take(rest, "host", d.host()),
        parseInt(take(rest, "flight-port", String.valueOf(d.flightPort())), "flight-port"),
        Path.of(take(rest, "data-dir", d.dataDir().toString())),
        parseDuration(take(rest, "result-ttl", d.resultTtl().toString()), "result-ttl"),
        parseDuration(take(rest, "prepared-idle-timeout", d.preparedStatementIdleTimeout().toString()),
            "prepared-idle-timeout"),
        parseInt(take(rest, "batch-rows", String.valueOf(d.batchRows())), "batch-rows"),
        parseInt(take(rest, "query-threads", String.valueOf(d.queryThreads())), "query-threads"),
        parseLong(take(rest, "query-memory", String.valueOf(d.queryMemoryBytes())), "query-memory"),
        parseLong(take(rest, "shuffle-memory", String.valueOf(d.shuffleMemoryBytes())), "shuffle-memory"),
        parseInt(take(rest, "engine-threads", String.valueOf(d.engineThreads())), "engine-threads"));
    if (!rest.isEmpty()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "unknown configuration key(s): %s", rest.keySet());
    }
    return c;
  }

  public NodeConfig withFlightPort(int port) {
    return new NodeConfig(host, port, dataDir, resultTtl, preparedStatementIdleTimeout, batchRows, queryThreads,
        queryMemoryBytes, shuffleMemoryBytes, engineThreads);
  }

  public NodeConfig withDataDir(Path dir) {
    return new NodeConfig(host, flightPort, dir, resultTtl, preparedStatementIdleTimeout, batchRows, queryThreads,
        queryMemoryBytes, shuffleMemoryBytes, engineThreads);
  }

  public NodeConfig withResultTtl(Duration ttl) {
    return new NodeConfig(host, flightPort, dataDir, ttl, preparedStatementIdleTimeout, batchRows, queryThreads,
        queryMemoryBytes, shuffleMemoryBytes, engineThreads);
  }

  private static String take(Map<String, String> m, String key, String dflt) {
    String v = m.remove(key);
    return v == null ? dflt : v;
  }

  private static int parseInt(String v, String key) {
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "%s: '%s' is not a whole number", key, v);
    }
  }

  private static long parseLong(String v, String key) {
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "%s: '%s' is not a whole number", key, v);
    }
  }

  /** Accepts ISO-8601 ({@code PT30S}) or a number with unit: {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h}. */
  public static Duration parseDuration(String v, String key) {
    String s = v.trim().toLowerCase(java.util.Locale.ROOT);
    try {
      if (s.startsWith("pt") || s.startsWith("p")) {
        return Duration.parse(s.toUpperCase(java.util.Locale.ROOT));
      }
      if (s.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
      }
      long n = Long.parseLong(s.substring(0, s.length() - 1));
      switch (s.charAt(s.length() - 1)) {
        case 's': return Duration.ofSeconds(n);
        case 'm': return Duration.ofMinutes(n);
        case 'h': return Duration.ofHours(n);
        default: break;
      }
    } catch (RuntimeException e) {
      // fall through to the error below
    }
    throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
        "%s: '%s' is not a duration (use e.g. 500ms, 30s, 5m, 1h or PT30S)", key, v);
  }

  private static void require(boolean ok, String key, String what) {
    if (!ok) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "%s %s", key, what);
    }
  }
}
