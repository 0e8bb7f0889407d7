package io.quiver.partitioning;

/**
 * Which shard a row belongs to, as a DuckDB SQL expression over the partition column, so that the
 * same rule runs wherever rows are: in a staging table on the coordinator, on a data node moving a
 * shard, or (for pruning) over a literal. The expression is NULL when the partition key is NULL;
 * such rows belong to no shard and are refused by writers.
 */
public final class ShardRouting {
  private ShardRouting() {}

  /**
   * @param spec the table's partitioning
   * @param column the partition column, already quoted (or any SQL expression of the column's type)
   * @param columnType the column's DuckDB type, for typing range bounds
   */
  public static String shardExpression(PartitionSpec spec, String column, String columnType) {
    if (spec instanceof PartitionSpec.Hash h) {
      return "(CASE WHEN " + column + " IS NULL THEN NULL ELSE hash(" + column + ") % " + h.numPartitions()
          + " END)";
    }
    if (spec instanceof PartitionSpec.Range r) {
      StringBuilder b = new StringBuilder("(CASE WHEN ").append(column).append(" IS NULL THEN NULL");
      for (int i = 0; i < r.bounds().size(); i++) {
        b.append(" WHEN ").append(column).append(" < CAST(").append(literal(r.bounds().get(i))).append(" AS ")
            .append(columnType).append(") THEN ").append(i);
      }
      return b.append(" ELSE ").append(r.bounds().size()).append(" END)").toString();
    }
    return "0";
  }

  private static String literal(String value) {
    return "'" + value.replace("'", "''") + "'";
  }
}
