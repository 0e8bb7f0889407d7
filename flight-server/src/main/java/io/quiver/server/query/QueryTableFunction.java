package io.quiver.server.query;

import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.catalog.engine.FunctionFailures;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.math.BigInteger;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBColumnType;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBDataChunkWriter;
import org.duckdb.DuckDBFunctions;
import org.duckdb.DuckDBLogicalType;
import org.duckdb.DuckDBTableFunction;
import org.duckdb.DuckDBTableFunctionBindInfo;
import org.duckdb.DuckDBTableFunctionCallInfo;
import org.duckdb.DuckDBTableFunctionInitInfo;
import org.duckdb.DuckDBWritableVector;

/**
 * {@code trex_db_query(sql)}: runs a query the way a client's query runs (tables of other nodes
 * and distributed tables included, with shard pushdown) and returns its rows with their own column
 * types. The result is read completely when the call starts (DuckDB's Java table functions have no
 * end-of-scan hook to release a half-read query), so it is capped at {@link #MAX_ROWS} rows.
 */
public final class QueryTableFunction {
  public static final int MAX_ROWS = 1_000_000;
  private static final Pattern DECIMAL = Pattern.compile("DECIMAL\\((\\d+),(\\d+)\\)");

  private record Column(String name, String type) {}

  private record Bound(String sql, List<Column> columns) {}

  private static final class Rows {
    final List<Object[]> rows;
    int position;

    Rows(List<Object[]> rows) {
      this.rows = rows;
    }
  }

  private QueryTableFunction() {}

  public static void register(DuckDBConnection c, DuckDbEngine engine, Supplier<RemoteTables.Locator> locator,
      BufferAllocator allocator) throws SQLException {
    DuckDBFunctions.tableFunction().withName("trex_db_query").withParameter(String.class)
        .withFunction(new DuckDBTableFunction<Bound, Rows, Object>() {
          @Override
          public Bound bind(DuckDBTableFunctionBindInfo info) {
            return FunctionFailures.recording(() -> {
              String sql = info.getParameter(0).getString();
              if (sql == null || sql.isBlank()) {
                throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "trex_db_query needs a query");
              }
              List<Column> columns = describe(engine, locator.get(), allocator, sql);
              for (Column col : columns) {
                info.addResultColumn(col.name(), logicalType(col.type()));
              }
              return new Bound(sql, columns);
            });
          }

          @Override
          public Rows init(DuckDBTableFunctionInitInfo info) {
            info.setMaxThreads(1);
            Bound b = info.getBindData();
            return FunctionFailures.recording(() -> new Rows(run(engine, locator.get(), allocator, b)));
          }

          @Override
          public long apply(DuckDBTableFunctionCallInfo info, DuckDBDataChunkWriter out) {
            Rows r = info.getInitData();
            Bound b = info.getBindData();
            int n = (int) Math.min(out.capacity(), r.rows.size() - r.position);
            for (int i = 0; i < n; i++) {
              Object[] row = r.rows.get(r.position + i);
              for (int col = 0; col < row.length; col++) {
                write(out.vector(col), i, b.columns().get(col).type(), row[col]);
              }
            }
            r.position += n;
            return n;
          }
        }).register(c);
  }

  private static List<Column> describe(DuckDbEngine engine, RemoteTables.Locator locator, BufferAllocator allocator,
      String sql) {
    List<AutoCloseable> attachments = new ArrayList<>();
    try (DuckDBConnection conn = engine.newConnection();
        PreparedStatement ps = RemoteTables.prepare(conn, sql, locator, allocator, false, attachments)) {
      ResultSetMetaData md = ps.getMetaData();
      if (md == null || md.getColumnCount() == 0) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "trex_db_query runs queries; '%s' returns no rows", sql);
      }
      List<Column> out = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        String type = md.getColumnTypeName(i).toUpperCase(Locale.ROOT);
        logicalType(type); // refuses types it cannot return
        out.add(new Column(md.getColumnName(i), type));
      }
      return out;
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    } finally {
      QueryExecution.closeAll(attachments);
    }
  }

  private static List<Object[]> run(DuckDbEngine engine, RemoteTables.Locator locator, BufferAllocator allocator,
      Bound b) {
    List<AutoCloseable> attachments = new ArrayList<>();
    try (DuckDBConnection conn = engine.newConnection();
        PreparedStatement ps = RemoteTables.prepare(conn, b.sql(), locator, allocator, true, attachments);
        ResultSet rs = ps.executeQuery()) {
      List<Object[]> rows = new ArrayList<>();
      int columns = b.columns().size();
      while (rs.next()) {
        if (rows.size() == MAX_ROWS) {
          throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "trex_db_query returns at most %,d rows and this query "
              + "has more; run it directly (or add a LIMIT)", MAX_ROWS);
        }
        Object[] row = new Object[columns];
        for (int i = 0; i < columns; i++) {
          row[i] = read(rs, i + 1, b.columns().get(i).type());
        }
        rows.add(row);
      }
      return rows;
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    } finally {
      QueryExecution.closeAll(attachments);
    }
  }

  private static DuckDBLogicalType logicalType(String type) {
    try {
      Matcher m = DECIMAL.matcher(type);
      if (m.matches()) {
        return DuckDBLogicalType.decimal(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
      }
      return DuckDBLogicalType.of(switch (type) {
        case "BOOLEAN" -> DuckDBColumnType.BOOLEAN;
        case "TINYINT" -> DuckDBColumnType.TINYINT;
        case "SMALLINT" -> DuckDBColumnType.SMALLINT;
        case "INTEGER" -> DuckDBColumnType.INTEGER;
        case "BIGINT" -> DuckDBColumnType.BIGINT;
        case "HUGEINT" -> DuckDBColumnType.HUGEINT;
        case "FLOAT" -> DuckDBColumnType.FLOAT;
        case "DOUBLE" -> DuckDBColumnType.DOUBLE;
        case "VARCHAR" -> DuckDBColumnType.VARCHAR;
        case "DATE" -> DuckDBColumnType.DATE;
        case "TIMESTAMP" -> DuckDBColumnType.TIMESTAMP;
        default -> throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "trex_db_query cannot return a %s column yet; "
            + "cast it (to VARCHAR, say) in the query", type);
      });
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }

  private static Object read(ResultSet rs, int i, String type) throws SQLException {
    Object v = switch (type) {
      case "BOOLEAN" -> rs.getBoolean(i);
      case "TINYINT", "SMALLINT", "INTEGER" -> rs.getInt(i);
      case "BIGINT" -> rs.getLong(i);
      case "HUGEINT" -> rs.getObject(i, BigInteger.class);
      case "FLOAT", "DOUBLE" -> rs.getDouble(i);
      case "DATE" -> rs.getObject(i, LocalDate.class);
      case "TIMESTAMP" -> rs.getObject(i, LocalDateTime.class);
      case "VARCHAR" -> rs.getString(i);
      default -> rs.getBigDecimal(i);
    };
    return rs.wasNull() ? null : v;
  }

  private static void write(DuckDBWritableVector v, int row, String type, Object value) {
    if (value == null) {
      v.setNull(row);
      return;
    }
    switch (type) {
      case "BOOLEAN" -> v.setBoolean(row, (Boolean) value);
      case "TINYINT" -> v.setByte(row, ((Integer) value).byteValue());
      case "SMALLINT" -> v.setShort(row, ((Integer) value).shortValue());
      case "INTEGER" -> v.setInt(row, (Integer) value);
      case "BIGINT" -> v.setLong(row, (Long) value);
      case "HUGEINT" -> v.setHugeInt(row, (BigInteger) value);
      case "FLOAT" -> v.setFloat(row, ((Double) value).floatValue());
      case "DOUBLE" -> v.setDouble(row, (Double) value);
      case "DATE" -> v.setDate(row, (LocalDate) value);
      case "TIMESTAMP" -> v.setTimestamp(row, (LocalDateTime) value);
      case "VARCHAR" -> v.setString(row, (String) value);
      default -> v.setBigDecimal(row, (java.math.BigDecimal) value);
    }
  }
}
