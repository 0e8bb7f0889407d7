package io.quiver.partitioning;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.ArrayList;
import java.util.List;

/**
 * Decides which data nodes hold which shard. Deterministic: the same spec and the same set of
 * data nodes always give the same placement. Shard {@code i}'s copies go to nodes {@code i},
 * {@code i+1}, ... (mod the node count) of the sorted node list, so shards and their replicas
 * spread evenly; replicated tables go to every node.
 */
public final class ShardPlacement {
  /** One shard and the nodes holding its copies (first = primary). */
  public record Shard(int id, List<String> nodes) {
    public Shard {
      nodes = List.copyOf(nodes);
    }
  }

  private ShardPlacement() {}

  public static List<Shard> place(PartitionSpec spec, List<String> dataNodes) {
    List<String> nodes = dataNodes.stream().distinct().sorted().toList();
    if (nodes.isEmpty()) {
      throw new QuiverException(ErrorCode.SERVER_SHUTTING_DOWN,
          "no alive data node to place the table on (set data_node with trex_db_set or start nodes with --roles data)");
    }
    if (spec instanceof PartitionSpec.Replicated) {
      return List.of(new Shard(0, nodes));
    }
    int rf = spec.replicationFactor();
    if (rf > nodes.size()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "config.replication_factor %d needs at least %d alive data nodes; the cluster has %d (%s)", rf, rf,
          nodes.size(), String.join(", ", nodes));
    }
    List<Shard> shards = new ArrayList<>();
    for (int i = 0; i < spec.numPartitions(); i++) {
      List<String> copies = new ArrayList<>();
      for (int r = 0; r < rf; r++) {
        copies.add(nodes.get((i + r) % nodes.size()));
      }
      shards.add(new Shard(i, copies));
    }
    return shards;
  }

  /** The local table name of a shard: {@code <table>_<shardid>}. */
  public static String shardTable(String table, int shardId) {
    return shardTable(table, 0, shardId);
  }

  /**
   * The local table name of a shard of a layout generation: {@code <table>_<shardid>} for the
   * first layout, {@code <table>_v<generation>_<shardid>} for the layouts repartitioning creates
   * (so that old and new shards coexist while rows move).
   */
  public static String shardTable(String table, int generation, int shardId) {
    return generation == 0 ? table + "_" + shardId : table + "_v" + generation + "_" + shardId;
  }
}
