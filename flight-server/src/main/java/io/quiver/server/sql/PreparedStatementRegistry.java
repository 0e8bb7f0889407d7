package io.quiver.server.sql;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Prepared statements handed out to clients. A statement is a value (SQL, schemas, the parameters
 * bound last); each execution prepares it again on its own connection, so a prepared statement
 * holds no engine resources while idle. Statements idle longer than the configured timeout are
 * dropped.
 */
public final class PreparedStatementRegistry {

  /** One prepared statement as a client sees it. */
  public static final class Prepared {
    private final String handle;
    private final String sql;
    private final Schema datasetSchema;
    private final Schema parameterSchema;
    private volatile List<List<Object>> boundRows = List.of();
    private volatile long lastUsedNanos = System.nanoTime();

    Prepared(String handle, String sql, Schema datasetSchema, Schema parameterSchema) {
      this.handle = handle;
      this.sql = sql;
      this.datasetSchema = datasetSchema;
      this.parameterSchema = parameterSchema;
    }

    public String handle() {
      return handle;
    }

    public String sql() {
      return sql;
    }

    public Schema datasetSchema() {
      return datasetSchema;
    }

    public Schema parameterSchema() {
      return parameterSchema;
    }

    public List<List<Object>> boundRows() {
      return boundRows;
    }

    public void bind(List<List<Object>> rows) {
      this.boundRows = List.copyOf(rows.stream().map(r -> java.util.Collections.unmodifiableList(
          new java.util.ArrayList<>(r))).toList());
    }

    void touch() {
      lastUsedNanos = System.nanoTime();
    }
  }

  private final Map<String, Prepared> statements = new ConcurrentHashMap<>();
  private final Duration idleTimeout;

  public PreparedStatementRegistry(Duration idleTimeout) {
    this.idleTimeout = idleTimeout;
  }

  public Prepared register(String sql, Schema datasetSchema, Schema parameterSchema) {
    Prepared p = new Prepared(UUID.randomUUID().toString(), sql, datasetSchema, parameterSchema);
    statements.put(p.handle(), p);
    return p;
  }

  public Prepared get(String handle) {
    Prepared p = statements.get(handle);
    if (p == null) {
      throw QuiverException.user(ErrorCode.INVALID_HANDLE,
          "no prepared statement with handle '%s' (it was closed, expired after %s idle, or never existed)",
          handle, idleTimeout);
    }
    p.touch();
    return p;
  }

  public void close(String handle) {
    if (statements.remove(handle) == null) {
      throw QuiverException.user(ErrorCode.INVALID_HANDLE, "no prepared statement with handle '%s' to close", handle);
    }
  }

  public int size() {
    return statements.size();
  }

  /** Drops statements idle longer than the timeout; called periodically. */
  public void expireIdle() {
    long limit = System.nanoTime() - idleTimeout.toNanos();
    statements.values().removeIf(p -> p.lastUsedNanos < limit);
  }
}
