package io.quiver.server.sql;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.FlightStreamReader;
import io.quiver.server.query.SessionContext;
import java.io.IOException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableExistsOption;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableNotExistOption;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;

/**
 * Flight SQL bulk ingest ({@code CommandStatementIngest}). The incoming Arrow stream is handed to
 * DuckDB as an Arrow scan (C data interface), so column types are DuckDB's exact mapping of the
 * Arrow types (int64 → BIGINT, utf8 → VARCHAR, ...), and the whole load is one transaction: it
 * lands completely or not at all.
 */
public final class BulkIngest {
  private final DuckDbEngine engine;

  public BulkIngest(DuckDbEngine engine) {
    this.engine = engine;
  }

  /** Loads the stream into the table; returns the number of rows written. */
  public long ingest(CommandStatementIngest cmd, SessionContext session, FlightStream stream,
      BufferAllocator allocator) {
    if (cmd.getTemporary()) {
      throw QuiverException.user(ErrorCode.NOT_SUPPORTED,
          "bulk ingest into a temporary table is not supported yet: temporary tables live on one connection");
    }
    if (cmd.hasTransactionId()) {
      throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "transactions are not supported yet");
    }
    if (cmd.getTable().isBlank()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "bulk ingest needs a table name");
    }
    TableNotExistOption ifNotExist = cmd.getTableDefinitionOptions().getIfNotExist();
    TableExistsOption ifExists = cmd.getTableDefinitionOptions().getIfExists();
    String qualified = qualifiedName(cmd);
    String view = "__quiver_ingest_" + UUID.randomUUID().toString().replace('-', '_');
    try (DuckDBConnection conn = engine.newConnection();
        FlightStreamReader reader = new FlightStreamReader(allocator, stream);
        ArrowArrayStream exported = ArrowArrayStream.allocateNew(allocator)) {
      session.apply(conn);
      boolean exists = exists(conn, cmd, session);
      try (Statement s = conn.createStatement()) {
        s.execute("BEGIN TRANSACTION");
        try {
          String target = decide(exists, ifNotExist, ifExists, qualified);
          Data.exportArrayStream(allocator, reader, exported);
          conn.registerArrowStream(view, exported);
          if (target.equals("create")) {
            if (exists) {
              s.execute("DROP TABLE " + qualified);
            }
            s.execute("CREATE TABLE " + qualified + " AS SELECT * FROM " + view);
          } else {
            s.execute("INSERT INTO " + qualified + " BY NAME SELECT * FROM " + view);
          }
          s.execute("COMMIT");
        } catch (SQLException | RuntimeException e) {
          try {
            s.execute("ROLLBACK");
          } catch (SQLException rollback) {
            e.addSuppressed(rollback);
          }
          throw e;
        }
      }
      return reader.rows();
    } catch (SQLException e) {
      throw io.quiver.catalog.engine.DuckDbErrors.translate(e);
    } catch (IOException e) {
      throw new QuiverException(ErrorCode.IO_ERROR, "reading the ingest stream failed: " + e.getMessage(), e);
    }
  }

  /** Returns "create" or "append", or throws with the option that refused. */
  private static String decide(boolean exists, TableNotExistOption ifNotExist, TableExistsOption ifExists,
      String table) {
    if (!exists) {
      if (ifNotExist == TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL) {
        throw QuiverException.user(ErrorCode.TABLE_NOT_FOUND,
            "table %s does not exist and the ingest mode does not create it (if_not_exist = FAIL)", table);
      }
      return "create";
    }
    switch (ifExists) {
      case TABLE_EXISTS_OPTION_APPEND:
        return "append";
      case TABLE_EXISTS_OPTION_REPLACE:
        return "create";
      default:
        throw QuiverException.user(ErrorCode.ALREADY_EXISTS,
            "table %s already exists and the ingest mode neither appends nor replaces (if_exists = FAIL)", table);
    }
  }

  private static String qualifiedName(CommandStatementIngest cmd) {
    StringBuilder b = new StringBuilder();
    if (cmd.hasCatalog()) {
      b.append(ArrowSchemas.quoteIdentifier(cmd.getCatalog())).append('.');
    }
    if (cmd.hasSchema()) {
      b.append(ArrowSchemas.quoteIdentifier(cmd.getSchema())).append('.');
    }
    return b.append(ArrowSchemas.quoteIdentifier(cmd.getTable())).toString();
  }

  private static boolean exists(DuckDBConnection conn, CommandStatementIngest cmd, SessionContext session)
      throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("SELECT 1 FROM information_schema.tables WHERE table_name = ? "
        + "AND table_catalog = coalesce(?, current_database()) AND table_schema = coalesce(?, current_schema())")) {
      ps.setString(1, cmd.getTable());
      ps.setString(2, cmd.hasCatalog() ? cmd.getCatalog() : null);
      ps.setString(3, cmd.hasSchema() ? cmd.getSchema() : null);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }
}
