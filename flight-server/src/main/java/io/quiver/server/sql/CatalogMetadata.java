package io.quiver.server.sql;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.server.query.ResultStreamer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flight.FlightProducer.ServerStreamListener;
import org.apache.arrow.flight.sql.FlightSqlProducer.Schemas;
import org.apache.arrow.flight.sql.impl.FlightSql;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBConnection;

/**
 * Answers the Flight SQL catalog commands from DuckDB's own catalog views, in the exact result
 * schemas the protocol defines ({@link Schemas}). DuckDB's internal {@code system} and {@code
 * temp} catalogs are not shown.
 */
public final class CatalogMetadata {
  public static final List<String> TABLE_TYPES = List.of("LOCAL TEMPORARY", "TABLE", "VIEW");
  private static final String USER_CATALOGS = "table_catalog NOT IN ('system', 'temp')";

  private final DuckDbEngine engine;
  private final BufferAllocator allocator;

  public CatalogMetadata(DuckDbEngine engine, BufferAllocator allocator) {
    this.engine = engine;
    this.allocator = allocator;
  }

  public void catalogs(ServerStreamListener listener) throws SQLException {
    send(listener, Schemas.GET_CATALOGS_SCHEMA,
        query("SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1", List.of(), 1));
  }

  public void schemas(FlightSql.CommandGetDbSchemas cmd, ServerStreamListener listener) throws SQLException {
    List<Object> args = new ArrayList<>();
    StringBuilder sql = new StringBuilder(
        "SELECT catalog_name, schema_name FROM information_schema.schemata WHERE catalog_name NOT IN ('system', 'temp')");
    if (cmd.hasCatalog()) {
      sql.append(" AND catalog_name = ?");
      args.add(cmd.getCatalog());
    }
    if (cmd.hasDbSchemaFilterPattern()) {
      sql.append(" AND schema_name LIKE ? ESCAPE '\\'");
      args.add(cmd.getDbSchemaFilterPattern());
    }
    sql.append(" ORDER BY 1, 2");
    send(listener, Schemas.GET_SCHEMAS_SCHEMA, query(sql.toString(), args, 2));
  }

  public void tables(FlightSql.CommandGetTables cmd, ServerStreamListener listener) throws SQLException {
    List<Object> args = new ArrayList<>();
    StringBuilder sql = new StringBuilder("SELECT table_catalog, table_schema, table_name, "
        + "CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END AS table_type "
        + "FROM information_schema.tables WHERE " + USER_CATALOGS);
    if (cmd.hasCatalog()) {
      sql.append(" AND table_catalog = ?");
      args.add(cmd.getCatalog());
    }
    if (cmd.hasDbSchemaFilterPattern()) {
      sql.append(" AND table_schema LIKE ? ESCAPE '\\'");
      args.add(cmd.getDbSchemaFilterPattern());
    }
    if (cmd.hasTableNameFilterPattern()) {
      sql.append(" AND table_name LIKE ? ESCAPE '\\'");
      args.add(cmd.getTableNameFilterPattern());
    }
    if (cmd.getTableTypesCount() > 0) {
      sql.append(" AND (CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END) IN (");
      for (int i = 0; i < cmd.getTableTypesCount(); i++) {
        sql.append(i == 0 ? "?" : ", ?");
        args.add(cmd.getTableTypes(i));
      }
      sql.append(')');
    }
    sql.append(" ORDER BY 1, 2, 3");
    List<Object[]> rows = query(sql.toString(), args, 4);
    if (!cmd.getIncludeSchema()) {
      send(listener, Schemas.GET_TABLES_SCHEMA_NO_SCHEMA, rows);
      return;
    }
    List<Object[]> withSchema = new ArrayList<>(rows.size());
    try (DuckDBConnection c = engine.newConnection()) {
      for (Object[] r : rows) {
        String qualified = ArrowSchemas.quoteIdentifier((String) r[0]) + "." + ArrowSchemas.quoteIdentifier((String) r[1])
            + "." + ArrowSchemas.quoteIdentifier((String) r[2]);
        Schema s = ResultStreamer.plainSchema(ArrowSchemas.ofQuery(c, allocator, "SELECT * FROM " + qualified));
        withSchema.add(new Object[] {r[0], r[1], r[2], r[3], ArrowSchemas.serialize(s)});
      }
    }
    send(listener, Schemas.GET_TABLES_SCHEMA, withSchema);
  }

  public void tableTypes(ServerStreamListener listener) {
    List<Object[]> rows = new ArrayList<>();
    for (String t : TABLE_TYPES) {
      rows.add(new Object[] {t});
    }
    send(listener, Schemas.GET_TABLE_TYPES_SCHEMA, rows);
  }

  public void primaryKeys(FlightSql.CommandGetPrimaryKeys cmd, ServerStreamListener listener) throws SQLException {
    List<Object> args = new ArrayList<>();
    StringBuilder sql = new StringBuilder("SELECT database_name, schema_name, table_name, column_name, CAST(seq AS INTEGER), "
        + "constraint_name FROM (SELECT *, unnest(constraint_column_names) AS column_name, "
        + "unnest(generate_series(1, len(constraint_column_names))) AS seq FROM duckdb_constraints() "
        + "WHERE constraint_type = 'PRIMARY KEY') WHERE table_name = ?");
    args.add(cmd.getTable());
    if (cmd.hasCatalog()) {
      sql.append(" AND database_name = ?");
      args.add(cmd.getCatalog());
    }
    if (cmd.hasDbSchema()) {
      sql.append(" AND schema_name = ?");
      args.add(cmd.getDbSchema());
    }
    sql.append(" ORDER BY 1, 2, 3, 5");
    send(listener, Schemas.GET_PRIMARY_KEYS_SCHEMA, query(sql.toString(), args, 6));
  }

  /** Foreign keys of {@code fk*} tables referencing {@code pk*} tables; null filters match all. */
  public void foreignKeys(String pkCatalog, String pkSchema, String pkTable, String fkCatalog, String fkSchema,
      String fkTable, ServerStreamListener listener) throws SQLException {
    List<Object> args = new ArrayList<>();
    StringBuilder sql = new StringBuilder("SELECT c.database_name, c.schema_name, c.referenced_table, "
        + "c.referenced_column_names[c.seq], c.database_name, c.schema_name, c.table_name, "
        + "c.constraint_column_names[c.seq], CAST(c.seq AS INTEGER), c.constraint_name, "
        + "(SELECT max(p.constraint_name) FROM duckdb_constraints() p WHERE p.constraint_type = 'PRIMARY KEY' "
        + "AND p.database_name = c.database_name AND p.schema_name = c.schema_name "
        + "AND p.table_name = c.referenced_table), 3, 3 "
        + "FROM (SELECT *, unnest(generate_series(1, len(constraint_column_names))) AS seq "
        + "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY') c WHERE true");
    filter(sql, args, "c.database_name", pkCatalog);
    filter(sql, args, "c.schema_name", pkSchema);
    filter(sql, args, "c.referenced_table", pkTable);
    filter(sql, args, "c.database_name", fkCatalog);
    filter(sql, args, "c.schema_name", fkSchema);
    filter(sql, args, "c.table_name", fkTable);
    sql.append(" ORDER BY 5, 6, 7, 9");
    send(listener, Schemas.GET_IMPORTED_KEYS_SCHEMA, query(sql.toString(), args, 13));
  }

  public void typeInfo(FlightSql.CommandGetXdbcTypeInfo cmd, ServerStreamListener listener) {
    List<Object[]> rows = new ArrayList<>();
    for (Object[] t : XdbcTypes.ROWS) {
      if (!cmd.hasDataType() || ((Integer) t[1]) == cmd.getDataType()) {
        rows.add(t);
      }
    }
    send(listener, Schemas.GET_TYPE_INFO_SCHEMA, rows);
  }

  private static void filter(StringBuilder sql, List<Object> args, String column, String value) {
    if (value != null) {
      sql.append(" AND ").append(column).append(" = ?");
      args.add(value);
    }
  }

  private List<Object[]> query(String sql, List<Object> args, int columns) throws SQLException {
    List<Object[]> rows = new ArrayList<>();
    try (Connection c = engine.newConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.size(); i++) {
        ps.setObject(i + 1, args.get(i));
      }
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Object[] row = new Object[columns];
          for (int i = 0; i < columns; i++) {
            row[i] = rs.getObject(i + 1);
          }
          rows.add(row);
        }
      }
    }
    return rows;
  }

  private void send(ServerStreamListener listener, Schema schema, List<Object[]> rows) {
    try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
      Rows.fill(root, rows);
      listener.start(root);
      listener.putNext();
      listener.completed();
    }
  }

  /** The DuckDB types clients can ask about (GetXdbcTypeInfo), in JDBC/XDBC terms. */
  static final class XdbcTypes {
    private static final int NULLABLE = 1;
    private static final int SEARCHABLE = 3;
    static final List<Object[]> ROWS = List.of(
        type("BOOLEAN", Types.BOOLEAN, 1, null, null, null, false, false),
        type("TINYINT", Types.TINYINT, 3, null, null, null, false, true),
        type("SMALLINT", Types.SMALLINT, 5, null, null, null, false, true),
        type("INTEGER", Types.INTEGER, 10, null, null, null, false, true),
        type("BIGINT", Types.BIGINT, 19, null, null, null, false, true),
        type("HUGEINT", Types.NUMERIC, 39, null, null, null, false, true),
        type("FLOAT", Types.REAL, 7, null, null, null, false, true),
        type("DOUBLE", Types.DOUBLE, 15, null, null, null, false, true),
        type("DECIMAL", Types.DECIMAL, 38, null, null, List.of("precision", "scale"), false, true),
        type("VARCHAR", Types.VARCHAR, Integer.MAX_VALUE, "'", "'", null, true, false),
        type("BLOB", Types.VARBINARY, Integer.MAX_VALUE, "'", "'", null, false, false),
        type("DATE", Types.DATE, 10, "DATE '", "'", null, false, false),
        type("TIME", Types.TIME, 15, "TIME '", "'", null, false, false),
        type("TIMESTAMP", Types.TIMESTAMP, 26, "TIMESTAMP '", "'", null, false, false),
        type("TIMESTAMP WITH TIME ZONE", Types.TIMESTAMP_WITH_TIMEZONE, 32, "TIMESTAMPTZ '", "'", null, false, false),
        type("INTERVAL", Types.OTHER, 32, "INTERVAL '", "'", null, false, false),
        type("UUID", Types.OTHER, 36, "'", "'", null, false, false),
        type("LIST", Types.ARRAY, null, null, null, null, false, false),
        type("STRUCT", Types.STRUCT, null, null, null, null, false, false),
        type("MAP", Types.OTHER, null, null, null, null, false, false));

    private static Object[] type(String name, int dataType, Integer size, String prefix, String suffix,
        List<String> createParams, boolean caseSensitive, boolean numeric) {
      return new Object[] {
        name, dataType, size, prefix, suffix, createParams, NULLABLE, caseSensitive, SEARCHABLE,
        numeric ? Boolean.FALSE : null, false, numeric ? Boolean.FALSE : null, name,
        null, null, dataType, null, numeric ? 10 : null, null
      };
    }

    private XdbcTypes() {}
  }
}
