package io.quiver.catalog.engine;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;
import java.util.Properties;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's embedded DuckDB database: one file (plus its WAL) in the data directory. Every
 * in-flight query gets its own duplicated connection ({@link #newConnection()}), so queries run
 * concurrently and can be interrupted one by one. Results stream ({@code jdbc_stream_results}).
 *
 * <p>This class is the only place that knows how the database is opened; the rest of Quiver talks
 * to it through JDBC connections and Arrow streams.
 */
public final class DuckDbEngine implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DuckDbEngine.class);
  public static final String DATABASE_FILE = "quiver.duckdb";

  private final Path databaseFile;
  private final int threads;
  private DuckDBConnection root;

  /** The database in {@code dataDir}, with DuckDB's default of one worker thread per available processor. */
  public DuckDbEngine(Path dataDir) {
    this(dataDir, 0);
  }

  /** The database in {@code dataDir} with {@code threads} DuckDB worker threads (0: DuckDB's default). */
  public DuckDbEngine(Path dataDir, int threads) {
    this.databaseFile = Objects.requireNonNull(dataDir, "dataDir").resolve(DATABASE_FILE);
    if (threads < 0) {
      throw new IllegalArgumentException("threads must not be negative, got " + threads);
    }
    this.threads = threads;
  }

  /** Opens (or creates) the database file; replays its WAL if the last run crashed. */
  public synchronized void start() {
    if (root != null) {
      throw new IllegalStateException("engine already started");
    }
    try {
      Files.createDirectories(databaseFile.getParent());
    } catch (IOException e) {
      throw new QuiverException(
          ErrorCode.IO_ERROR, "cannot create data directory '" + databaseFile.getParent() + "': " + e.getMessage(), e);
    }
    Properties props = new Properties();
    props.setProperty("jdbc_stream_results", "true");
    try {
      root = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:" + databaseFile, props);
      try (Statement s = root.createStatement()) {
        // Arrow export of TIMESTAMPTZ carries this zone; UTC keeps results independent of the host. Set once for
        // the database: every connection starts with it (a session may still SET its own)
        s.execute("SET GLOBAL TimeZone = 'UTC'");
        if (threads > 0) {
          s.execute("SET GLOBAL threads = " + threads);
        }
        // DuckDB's partial aggregate pushdown pre-aggregates both sides of a join on the join key when its
        // estimates expect duplicates. On shards of hash-partitioned tables (rows in hash order, no useful min/max)
        // it misfires on unique keys: a TPC-H Q12 fragment spent 60 of its 80 ms grouping orders by o_orderkey;
        // without it the same fragment takes 8 ms. Every connection of this database goes without it.
        s.execute("SET GLOBAL disabled_optimizers = '" + DISABLED_OPTIMIZERS + "'");
        addStandardTypeAliases(s);
      }
    } catch (SQLException e) {
      throw new QuiverException(
          ErrorCode.IO_ERROR, "cannot open database '" + databaseFile + "': " + DuckDbErrors.firstLine(e), e);
    }
    LOG.info("opened DuckDB database {}", databaseFile);
  }

  /**
   * Standard SQL type names DuckDB lacks but clients generate: ADBC Java's Flight SQL driver writes
   * {@code CLOB} for text columns in the CREATE TABLE of its bulk ingest. They are created once, as
   * aliases in the default schema.
   */
  private static void addStandardTypeAliases(Statement s) throws SQLException {
    try (java.sql.ResultSet rs = s.executeQuery(
        "SELECT count(*) FROM duckdb_types() WHERE type_name = 'CLOB' AND schema_name = current_schema()")) {
      rs.next();
      if (rs.getLong(1) > 0) {
        return;
      }
    }
    s.execute("CREATE TYPE CLOB AS VARCHAR");
  }

  /** DuckDB optimizers every connection runs without (see {@link #start}). */
  public static final String DISABLED_OPTIMIZERS = "partial_aggregate_pushdown";

  public Path databaseFile() {
    return databaseFile;
  }

  /** A new connection to the same database, owned (and closed) by the caller. */
  public DuckDBConnection newConnection() {
    DuckDBConnection r;
    synchronized (this) {
      r = root;
    }
    if (r == null) {
      throw new QuiverException(ErrorCode.SERVER_SHUTTING_DOWN, "the database is not open");
    }
    try {
      return r.duplicate(); // with the database's global settings (TimeZone UTC, see start)
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }

  /** Work that must run on the database's own connection (registering SQL functions). */
  @FunctionalInterface
  public interface RootWork {
    void run(DuckDBConnection root) throws SQLException;
  }

  /** Runs {@code work} with the root connection; functions registered there are seen by every connection. */
  public synchronized void withRootConnection(RootWork work) {
    if (root == null) {
      throw new QuiverException(ErrorCode.SERVER_SHUTTING_DOWN, "the database is not open");
    }
    try {
      work.run(root);
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }

  /** Flushes the WAL into the database file. */
  public void checkpoint() {
    try (DuckDBConnection c = newConnection(); Statement s = c.createStatement()) {
      s.execute("CHECKPOINT");
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }

  @Override
  public synchronized void close() {
    if (root == null) {
      return;
    }
    try {
      root.close();
    } catch (SQLException e) {
      LOG.warn("closing database {} failed", databaseFile, e);
    } finally {
      root = null;
    }
  }
}
