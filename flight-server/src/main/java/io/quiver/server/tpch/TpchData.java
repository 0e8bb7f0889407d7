package io.quiver.server.tpch;

import io.trino.tpch.TpchColumn;
import io.trino.tpch.TpchEntity;
import io.trino.tpch.TpchTable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.DateDayVector;
import org.apache.arrow.vector.DecimalVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.DateUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * TPC-H data as Arrow batches, from the pure-Java generator ({@code io.trino.tpch}): the eight
 * tables with the standard column names and types (keys BIGINT, money and quantities
 * DECIMAL(15,2), dates DATE), and how Quiver distributes them (lineitem co-located with orders on
 * the order key, the other large tables hashed on their key, nation and region replicated).
 */
public final class TpchData {
  /** Load order: small tables first, lineitem (co-located with orders) after orders. */
  public static final List<String> TABLES = List.of("region", "nation", "supplier", "customer", "part", "partsupp",
      "orders", "lineitem");

  private static final Map<String, String> HASH_KEY = Map.of("supplier", "s_suppkey", "customer", "c_custkey",
      "part", "p_partkey", "partsupp", "ps_partkey", "orders", "o_orderkey", "lineitem", "l_orderkey");

  private TpchData() {}

  @SuppressWarnings("unchecked")
  static TpchTable<TpchEntity> table(String name) {
    return (TpchTable<TpchEntity>) TpchTable.getTable(name);
  }

  /** About how many rows a table has at scale factor {@code sf} (lineitem varies, about 4 per order). */
  public static long approxRows(String name, double sf) {
    long base = switch (name) {
      case "region" -> 5;
      case "nation" -> 25;
      case "supplier" -> 10_000;
      case "customer" -> 150_000;
      case "part" -> 200_000;
      case "partsupp" -> 800_000;
      case "orders" -> 1_500_000;
      case "lineitem" -> 6_000_000;
      default -> throw new IllegalArgumentException("not a TPC-H table: " + name);
    };
    return name.equals("region") || name.equals("nation") ? base : (long) (base * sf);
  }

  /** {@code CREATE TABLE <name> (...)} with DuckDB types. */
  public static String createSql(String name) {
    StringBuilder b = new StringBuilder("CREATE TABLE ").append(name).append(" (");
    List<TpchColumn<TpchEntity>> columns = table(name).getColumns();
    for (int i = 0; i < columns.size(); i++) {
      TpchColumn<TpchEntity> c = columns.get(i);
      b.append(i == 0 ? "" : ", ").append(c.getColumnName()).append(' ').append(switch (c.getType().getBase()) {
        case IDENTIFIER -> "BIGINT";
        case INTEGER -> "INTEGER";
        case DATE -> "DATE";
        case DOUBLE -> "DECIMAL(15,2)";
        case VARCHAR -> "VARCHAR";
      });
    }
    return b.append(')').toString();
  }

  /** The partition config for {@code trex_db_create_table}. */
  /**
   * How a cluster holds the TPC-H tables. In both, orders and lineitem are hashed on the order key
   * and co-located, partsupp is hashed on its part key, and nation and region are replicated.
   */
  public enum Layout {
    /** customer, part and supplier hashed on their keys too */
    HASHED,
    /**
     * customer, part and supplier replicated to every node as well (Citus's reference tables):
     * the dimension tables every fact row joins with are read in place, never broadcast
     */
    REFERENCE;

    public static Layout parse(String name) {
      for (Layout l : values()) {
        if (l.name().equalsIgnoreCase(name)) {
          return l;
        }
      }
      throw new IllegalArgumentException("'" + name + "' is not a TPC-H layout; use hashed or reference");
    }
  }

  private static final java.util.Set<String> DIMENSIONS = java.util.Set.of("customer", "part", "supplier");

  /** The partitioning of a table in the {@link Layout#HASHED} layout. */
  public static String partitionConfig(String name, int partitions) {
    return partitionConfig(name, partitions, Layout.HASHED);
  }

  public static String partitionConfig(String name, int partitions, Layout layout) {
    if (name.equals("nation") || name.equals("region") || (layout == Layout.REFERENCE && DIMENSIONS.contains(name))) {
      return "{\"strategy\": \"replicated\"}";
    }
    String config = "{\"strategy\": \"hash\", \"column\": \"" + HASH_KEY.get(name) + "\", \"num_partitions\": "
        + partitions;
    return config + (name.equals("lineitem") ? ", \"colocate_with\": \"orders\"}" : "}");
  }

  public static Schema schema(String name) {
    List<Field> fields = new ArrayList<>();
    for (TpchColumn<TpchEntity> c : table(name).getColumns()) {
      fields.add(Field.nullable(c.getColumnName(), switch (c.getType().getBase()) {
        case IDENTIFIER -> new ArrowType.Int(64, true);
        case INTEGER -> new ArrowType.Int(32, true);
        case DATE -> new ArrowType.Date(DateUnit.DAY);
        case DOUBLE -> new ArrowType.Decimal(15, 2, 128);
        case VARCHAR -> ArrowType.Utf8.INSTANCE;
      }));
    }
    return new Schema(fields);
  }

  /**
   * Generates part {@code part} of {@code parts} (1-based) of a table at scale factor {@code sf}
   * into {@code root} (of {@link #schema}), handing each filled batch of up to {@code batchRows}
   * rows to {@code sink}. Returns the rows generated.
   */
  public static long generate(String name, double sf, int part, int parts, VectorSchemaRoot root, int batchRows,
      Consumer<VectorSchemaRoot> sink) {
    List<TpchColumn<TpchEntity>> columns = table(name).getColumns();
    List<FieldVector> vectors = root.getFieldVectors();
    long total = 0;
    int n = 0;
    root.allocateNew();
    for (TpchEntity row : table(name).createGenerator(sf, part, parts)) {
      for (int c = 0; c < columns.size(); c++) {
        set(vectors.get(c), columns.get(c), row, n);
      }
      n++;
      if (n == batchRows) {
        root.setRowCount(n);
        sink.accept(root);
        total += n;
        n = 0;
        root.allocateNew();
      }
    }
    if (n > 0) {
      root.setRowCount(n);
      sink.accept(root);
      total += n;
    }
    return total;
  }

  private static void set(FieldVector v, TpchColumn<TpchEntity> c, TpchEntity row, int i) {
    switch (c.getType().getBase()) {
      case IDENTIFIER -> ((BigIntVector) v).setSafe(i, c.getIdentifier(row));
      case INTEGER -> ((IntVector) v).setSafe(i, c.getInteger(row));
      case DATE -> ((DateDayVector) v).setSafe(i, c.getDate(row));
      case DOUBLE -> ((DecimalVector) v).setSafe(i, c.getIdentifier(row)); // unscaled: value x 100
      case VARCHAR -> ((VarCharVector) v).setSafe(i, c.getString(row).getBytes(StandardCharsets.UTF_8));
    }
  }

  /**
   * Generates every table at {@code sf} straight into a DuckDB database (the single-node
   * reference the cluster's results are compared with). Returns the rows loaded.
   */
  public static long loadInto(org.duckdb.DuckDBConnection conn, double sf, org.apache.arrow.memory.BufferAllocator
      allocator) throws java.sql.SQLException {
    long total = 0;
    for (String table : TABLES) {
      try (java.sql.Statement s = conn.createStatement();
          VectorSchemaRoot root = VectorSchemaRoot.create(schema(table), allocator)) {
        s.execute(createSql(table));
        long[] rows = {0};
        generate(table, sf, 1, 1, root, 100_000, batch -> {
          try (org.apache.arrow.c.ArrowArrayStream stream = org.apache.arrow.c.ArrowArrayStream.allocateNew(allocator);
              org.apache.arrow.vector.ipc.ArrowReader reader = new io.quiver.server.query.SingleBatchReader(allocator, batch)) {
            org.apache.arrow.c.Data.exportArrayStream(allocator, reader, stream);
            conn.registerArrowStream("__tpch_batch", stream);
            s.execute("INSERT INTO " + table + " SELECT * FROM __tpch_batch");
            rows[0] += batch.getRowCount();
          } catch (java.sql.SQLException | java.io.IOException e) {
            throw new IllegalStateException("loading " + table + " into DuckDB failed: " + e.getMessage(), e);
          }
        });
        total += rows[0];
      }
    }
    return total;
  }
}
