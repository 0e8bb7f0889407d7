package io.quiver.catalog.engine;

import java.sql.ParameterMetaData;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSet;

/**
 * Derives Arrow schemas for statements that have not run yet, by asking DuckDB itself: a typed
 * empty projection ({@code SELECT CAST(NULL AS <type>) ... LIMIT 0}) exported to Arrow gives
 * exactly the types the real result will have (learned once per type name, then reused). ENUM (which DuckDB exports dictionary-encoded) and
 * types DuckDB cannot know before binding are declared VARCHAR; results decode ENUM to text.
 */
public final class ArrowSchemas {
  private ArrowSchemas() {}

  /** The Arrow schema of a prepared statement's result. */
  public static Schema ofResult(DuckDBConnection conn, BufferAllocator allocator, ResultSetMetaData md)
      throws SQLException {
    List<String> names = new ArrayList<>();
    List<String> types = new ArrayList<>();
    for (int i = 1; i <= md.getColumnCount(); i++) {
      names.add(md.getColumnName(i));
      types.add(md.getColumnTypeName(i));
    }
    return derive(conn, allocator, names, types);
  }

  /**
   * The Arrow schema clients bind parameters with. TIMESTAMP parameters are declared in
   * milliseconds: the Flight SQL JDBC driver writes epoch milliseconds whatever unit is declared.
   */
  public static Schema ofParameters(DuckDBConnection conn, BufferAllocator allocator, ParameterMetaData pm)
      throws SQLException {
    List<String> names = new ArrayList<>();
    List<String> types = new ArrayList<>();
    for (int i = 1; i <= pm.getParameterCount(); i++) {
      names.add("p" + i);
      types.add(pm.getParameterTypeName(i));
    }
    Schema derived = derive(conn, allocator, names, types);
    List<Field> fields = new ArrayList<>();
    for (Field f : derived.getFields()) {
      if (f.getType() instanceof ArrowType.Timestamp ts && ts.getTimezone() == null) {
        fields.add(new Field(f.getName(), FieldType.nullable(new ArrowType.Timestamp(TimeUnit.MILLISECOND, null)), null));
      } else {
        fields.add(f);
      }
    }
    return new Schema(fields);
  }

  /** The Arrow schema of a query, read from DuckDB's Arrow export of its empty result. */
  public static Schema ofQuery(DuckDBConnection conn, BufferAllocator allocator, String sql) throws SQLException {
    try (Statement s = conn.createStatement();
        DuckDBResultSet rs = (DuckDBResultSet) s.executeQuery("SELECT * FROM (" + sql + ") LIMIT 0");
        ArrowReader reader = (ArrowReader) rs.arrowExportStream(allocator, 1)) {
      return reader.getVectorSchemaRoot().getSchema();
    } catch (java.io.IOException e) {
      throw new SQLException("cannot read the schema DuckDB exported: " + e.getMessage(), e);
    }
  }

  /** The IPC-framed schema message Flight SQL puts in prepared-statement and table results. */
  public static byte[] serialize(Schema schema) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try {
      org.apache.arrow.vector.ipc.message.MessageSerializer.serialize(
          new org.apache.arrow.vector.ipc.WriteChannel(java.nio.channels.Channels.newChannel(out)), schema);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  static Schema derive(DuckDBConnection conn, BufferAllocator allocator, List<String> names, List<String> types)
      throws SQLException {
    if (names.isEmpty()) {
      return new Schema(List.of());
    }
    List<String> castable = new ArrayList<>();
    List<String> unknown = new ArrayList<>();
    for (String t : types) {
      String c = castableType(t);
      castable.add(c);
      if (!EXPORTED.containsKey(c) && !unknown.contains(c)) {
        unknown.add(c);
      }
    }
    if (!unknown.isEmpty()) {
      if (EXPORTED.size() > 10_000) {
        EXPORTED.clear(); // nested types can be spelled in endless ways: the cache stays bounded
      }
      learn(conn, allocator, unknown);
    }
    List<Field> fields = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      Field f = EXPORTED.get(castable.get(i));
      fields.add(new Field(names.get(i), f.getFieldType(), f.getChildren()));
    }
    return new Schema(fields);
  }

  /**
   * How DuckDB exports each type to Arrow, learned once per type name: a statement's schema costs
   * no DuckDB query once its types are known (a query waits its turn on a busy node's cores).
   */
  private static final java.util.Map<String, Field> EXPORTED = new java.util.concurrent.ConcurrentHashMap<>();

  /** Asks DuckDB how it exports {@code types}: a typed empty projection, exported to Arrow. */
  private static void learn(DuckDBConnection conn, BufferAllocator allocator, List<String> types) throws SQLException {
    StringBuilder sql = new StringBuilder("SELECT ");
    for (int i = 0; i < types.size(); i++) {
      sql.append(i > 0 ? ", " : "").append("CAST(NULL AS ").append(types.get(i)).append(") AS c").append(i);
    }
    sql.append(" LIMIT 0");
    try (Statement s = conn.createStatement();
        DuckDBResultSet rs = (DuckDBResultSet) s.executeQuery(sql.toString());
        ArrowReader reader = (ArrowReader) rs.arrowExportStream(allocator, 1)) {
      List<Field> fields = reader.getVectorSchemaRoot().getSchema().getFields();
      for (int i = 0; i < types.size(); i++) {
        EXPORTED.put(types.get(i), fields.get(i));
      }
    } catch (java.io.IOException e) {
      throw new SQLException("cannot read the schema DuckDB exported: " + e.getMessage(), e);
    }
  }

  static String castableType(String duckType) {
    String t = duckType == null ? "" : duckType.trim().toUpperCase(Locale.ROOT);
    if (t.isEmpty() || t.equals("UNKNOWN") || t.equals("INVALID") || t.startsWith("ENUM")
        || t.equals("NULL") || t.equals("ANY")) {
      return "VARCHAR";
    }
    return duckType;
  }

  public static String quoteIdentifier(String name) {
    return '"' + name.replace("\"", "\"\"") + '"';
  }

  /** The column list of a CREATE TABLE: {@code "a" INTEGER, "b" VARCHAR} for name → DuckDB type. */
  public static String columnDefinitions(java.util.Map<String, String> columnTypes) {
    StringBuilder b = new StringBuilder();
    columnTypes.forEach((name, type) -> b.append(b.length() == 0 ? "" : ", ").append(quoteIdentifier(name))
        .append(' ').append(type));
    return b.toString();
  }
}
