package io.quiver.partitioning;

import java.util.List;
import java.util.Optional;

/**
 * How a distributed table is split into shards and where copies live. A value; built and
 * validated by {@link PartitionSpecParser}.
 *
 * <p>Hash partitioning assigns a row to shard {@code hash(column) % num_partitions}, using DuckDB's
 * own {@code hash()} so that every node (and the coordinator, for routing and pruning) computes
 * the same shard. Range partitioning with bounds {@code b0 < b1 < ... < bn} has {@code n + 2}
 * shards: {@code (-inf, b0)}, {@code [b0, b1)}, ..., {@code [bn, +inf)}. Replicated tables have one
 * shard, copied to every data node.
 */
public sealed interface PartitionSpec permits PartitionSpec.Hash, PartitionSpec.Range, PartitionSpec.Replicated {
  /** Copies of every shard (1 = no replica). Replicated tables are on every data node instead. */
  int replicationFactor();

  /** A table whose shard → node mapping this table shares (for local joins). */
  Optional<String> colocateWith();

  int numPartitions();

  String strategy();

  /** Hash partitioning on one column. */
  record Hash(String column, int numPartitions, int replicationFactor, Optional<String> colocateWith)
      implements PartitionSpec {
    @Override
    public String strategy() {
      return "hash";
    }
  }

  /** Range partitioning on one column with strictly increasing bounds (as SQL literals of the column's type). */
  record Range(String column, List<String> bounds, int replicationFactor, Optional<String> colocateWith)
      implements PartitionSpec {
    public Range {
      bounds = List.copyOf(bounds);
    }

    @Override
    public int numPartitions() {
      return bounds.size() + 1;
    }

    @Override
    public String strategy() {
      return "range";
    }
  }

  /** A full copy on every data node. */
  record Replicated() implements PartitionSpec {
    @Override
    public int replicationFactor() {
      return 1;
    }

    @Override
    public Optional<String> colocateWith() {
      return Optional.empty();
    }

    @Override
    public int numPartitions() {
      return 1;
    }

    @Override
    public String strategy() {
      return "replicated";
    }
  }
}
