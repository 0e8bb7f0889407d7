package io.quiver.server.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.catalog.raft.KvStateMachine;
import io.quiver.partitioning.PartitionSpec;
import io.quiver.partitioning.PartitionSpecParser;
import io.quiver.partitioning.ShardPlacement;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.RemoteTables;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a distributed table to a new layout online ({@code trex_db_repartition_table}, also the way
 * to rebalance onto data nodes that joined), and turns a node-local table into a distributed one
 * ({@code trex_db_partition_table}).
 *
 * <p>A move: the old shards are frozen on every copy (writes are refused with a clear error; the
 * writes already holding them finish first), empty shard tables of the next layout generation
 * ({@code <table>_v<gen>_<shard>}) are created, and the old shards are copied into them one by one
 * as a single distributed write. Only when that write committed is the table's definition in Raft
 * switched to the new layout, in one step; readers use the old layout until then and the new one
 * after, so they always see every row exactly once. The old shards are dropped after a grace
 * period. If the moving node dies, nothing switched: its freeze leases run out, the open write is
 * rolled back by the data nodes, and the old layout stays as it was. Progress (shards done, rows
 * moved) is kept in Raft under {@code moves/<table>} for {@code trex_db_repartition_status()}.
 */
public final class Repartitioning implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Repartitioning.class);
  static final String MOVES = "moves/";
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String PAUSE_KEY = "repartition_pause_ms";
  private static final long LEASE_MILLIS = 15_000;
  private static final long RENEW_MILLIS = 3_000;
  private static final long DROP_GRACE_MILLIS = 5_000;

  /** A move as recorded in Raft. */
  public record Status(String table, String state, String node, String from, String to, int shardsDone,
      int shardsTotal, long rowsMoved, long startedMillis, long finishedMillis, String message) {
    Status progress(int done, long rows) {
      return new Status(table, state, node, from, to, done, shardsTotal, rows, startedMillis, finishedMillis, message);
    }

    Status end(String endState, String endMessage) {
      return new Status(table, endState, node, from, to, shardsDone, shardsTotal, rowsMoved, startedMillis,
          System.currentTimeMillis(), endMessage);
    }
  }

  private final DistributedTables tables;
  private final DistributedWrites writes;
  private final ClusterService cluster;
  private final DuckDbEngine engine;
  private final Set<String> running = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "quiver-repartition-timers");
    t.setDaemon(true);
    return t;
  });

  public Repartitioning(DistributedTables tables, DistributedWrites writes, ClusterService cluster,
      DuckDbEngine engine) {
    this.tables = tables;
    this.writes = writes;
    this.cluster = cluster;
    this.engine = engine;
  }

  /** {@code trex_db_repartition_table(table, config)}. */
  public String repartition(String table, String config) {
    DistributedTables.Definition from = tables.definition(table).orElseThrow(() -> QuiverException.user(
        ErrorCode.INVALID_ARGUMENT, "table_name '%s' is not a distributed table (see trex_db_partitions(); "
        + "trex_db_partition_table distributes a node-local table)", table));
    PartitionSpec spec = PartitionSpecParser.parse(config, from.name(), from.columns());
    DistributedTables.Definition to = from.withLayout(spec, tables.placement(spec), from.generation() + 1);
    List<RemoteTables.Part> sources = new ArrayList<>();
    Map<String, String> endpoints = tables.endpoints();
    String self = cluster.identity().nodeName();
    List<String[]> frozen = new ArrayList<>();
    for (ShardPlacement.Shard shard : from.shards()) {
      String shardTable = from.shardTable(shard.id());
      String copy = shard.nodes().contains(self) ? self
          : shard.nodes().stream().filter(endpoints::containsKey).findFirst().orElseThrow(() -> new QuiverException(
              ErrorCode.REMOTE_ERROR, "shard " + shard.id() + " of " + table + " has no alive copy; it cannot move"));
      sources.add(new RemoteTables.Part(shardTable, copy.equals(self) ? null : endpoints.get(copy)));
      for (String node : shard.nodes()) {
        if (endpoints.containsKey(node)) {
          frozen.add(new String[] {node, shardTable});
        }
      }
    }
    return move(from, to, sources, frozen, () -> { });
  }

  /** {@code trex_db_partition_table(table, config)}: a table of this node becomes a distributed table. */
  public String partition(String table, String config) {
    if (tables.definition(table).isPresent()) {
      throw QuiverException.user(ErrorCode.ALREADY_EXISTS,
          "table_name '%s' is already a distributed table; use trex_db_repartition_table to change its layout", table);
    }
    Map<String, String> columns = localColumns(table);
    PartitionSpec spec = PartitionSpecParser.parse(config, table, columns);
    DistributedTables.Definition to = new DistributedTables.Definition(table, columns, spec.strategy(),
        DistributedTables.columnOf(spec), spec.numPartitions(), spec instanceof PartitionSpec.Range r ? r.bounds()
        : List.of(), spec.replicationFactor(), spec.colocateWith().orElse(null), tables.placement(spec), 0);
    // the local table keeps its name until the definition is in Raft, then it is dropped
    return move(null, to, List.of(new RemoteTables.Part(table, null)), List.of(), () -> tables.runOn(
        cluster.identity().nodeName(), tables.endpoints(), "DROP TABLE " + ArrowSchemas.quoteIdentifier(table)));
  }

  private Map<String, String> localColumns(String table) {
    Map<String, String> columns = new LinkedHashMap<>();
    try (DuckDBConnection c = engine.newConnection(); PreparedStatement ps = c.prepareStatement("SELECT column_name, "
        + "data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' AND NOT internal "
        + "ORDER BY column_index")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          columns.put(rs.getString(1), rs.getString(2));
        }
      }
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
    if (columns.isEmpty()) {
      throw QuiverException.user(ErrorCode.TABLE_NOT_FOUND,
          "table_name '%s' is not a table of this node (trex_db_partition_table distributes a table of the node it "
          + "runs on)", table);
    }
    return columns;
  }

  private String move(DistributedTables.Definition from, DistributedTables.Definition to,
      List<RemoteTables.Part> sources, List<String[]> frozen, Runnable afterSwitch) {
    String table = to.name();
    Optional<Status> previous = status(table);
    if (previous.isPresent() && effectiveState(previous.get()).equals("running")) {
      throw QuiverException.user(ErrorCode.TRANSACTION_ERROR, "table %s is already being repartitioned by node %s "
          + "(%d of %d shards done); wait for it to finish", table, previous.get().node(), previous.get().shardsDone(),
          previous.get().shardsTotal());
    }
    if (!running.add(table)) {
      throw QuiverException.user(ErrorCode.TRANSACTION_ERROR, "table %s is already being repartitioned here", table);
    }
    long started = System.currentTimeMillis();
    Status status = new Status(table, "running", cluster.identity().nodeName(), from == null ? "local" : from.describe(),
        to.describe(), 0, sources.size(), 0, started, 0, "");
    put(status);
    Map<String, String> endpoints = tables.endpoints();
    List<String[]> held = new ArrayList<>();
    ScheduledFuture<?> renew = null;
    try {
      for (String[] f : frozen) {
        freeze(endpoints, f, 30_000);
        held.add(f);
      }
      renew = timers.scheduleWithFixedDelay(() -> held.forEach(f -> {
        try {
          freeze(endpoints, f, 0);
        } catch (RuntimeException e) {
          LOG.warn("renewing the freeze of {} on {} failed: {}", f[1], f[0], e.getMessage());
        }
      }), RENEW_MILLIS, RENEW_MILLIS, TimeUnit.MILLISECONDS);
      for (ShardPlacement.Shard shard : to.shards()) {
        for (String node : shard.nodes()) {
          tables.runOn(node, endpoints, "CREATE OR REPLACE TABLE " + ArrowSchemas.quoteIdentifier(
              to.shardTable(shard.id())) + " (" + to.columnsSql() + ")");
        }
      }
      Status[] current = {status};
      long pause = pauseMillis();
      long rows = writes.copyInto(sources, to, (done, moved) -> {
        current[0] = current[0].progress(done, moved);
        put(current[0]);
        if (pause > 0 && done < sources.size()) {
          try {
            Thread.sleep(pause);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QuiverException(ErrorCode.QUERY_CANCELLED, "the move of " + table + " was interrupted", e);
          }
        }
      });
      tables.put(to);
      afterSwitch.run();
      long millis = System.currentTimeMillis() - started;
      put(current[0].end("done", ""));
      if (from != null) {
        timers.schedule(() -> retire(from, held), DROP_GRACE_MILLIS, TimeUnit.MILLISECONDS);
      }
      return (from == null ? "distributed " : "repartitioned ") + table + ": " + (from == null ? "local table"
          : from.describe()) + " -> "
          + to.describe() + ", " + to.shards().size() + " shard(s) on " + to.shards().stream()
          .flatMap(s -> s.nodes().stream()).distinct().count() + " node(s), " + rows + " rows moved in " + millis
          + " ms";
    } catch (RuntimeException e) {
      put(status(table).orElse(status).end("failed", e.getMessage()));
      for (String[] f : held) {
        unfreeze(endpoints, f);
      }
      tables.dropCopies(to, endpoints).values().forEach(e::addSuppressed);
      throw e;
    } finally {
      if (renew != null) {
        renew.cancel(false);
      }
      running.remove(table);
    }
  }

  /** {@code trex_db_set('repartition_pause_ms', 'N')}: a pause between shards, to limit a move's load. */
  private long pauseMillis() {
    String v = cluster.key(PAUSE_KEY).orElse("0");
    try {
      return Math.max(0, Long.parseLong(v.trim()));
    } catch (NumberFormatException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "%s must be a number of milliseconds, got '%s'",
          PAUSE_KEY, v);
    }
  }

  /** Drops the shards of a layout that is no longer in use (after the readers' grace period). */
  private void retire(DistributedTables.Definition old, List<String[]> frozen) {
    Map<String, String> endpoints = tables.endpoints();
    tables.dropCopies(old, endpoints).forEach((copy, e) -> LOG.warn("dropping retired shard {} failed: {}", copy,
        e.getMessage()));
    frozen.forEach(f -> unfreeze(endpoints, f));
  }

  private void freeze(Map<String, String> endpoints, String[] nodeAndTable, long waitMillis) {
    writes.call(nodeAndTable[0], endpoints.get(nodeAndTable[0]), Map.of("op", "freeze", "table", nodeAndTable[1],
        "lease_ms", Long.toString(LEASE_MILLIS), "wait_ms", Long.toString(waitMillis)));
  }

  private void unfreeze(Map<String, String> endpoints, String[] nodeAndTable) {
    try {
      writes.call(nodeAndTable[0], endpoints.get(nodeAndTable[0]), Map.of("op", "unfreeze", "table",
          nodeAndTable[1]));
    } catch (RuntimeException e) {
      LOG.warn("unfreezing {} on {} failed (its lease runs out): {}", nodeAndTable[1], nodeAndTable[0], e.getMessage());
    }
  }

  private void put(Status s) {
    try {
      cluster.raft().put(MOVES + s.table(), JSON.writeValueAsString(s));
    } catch (JsonProcessingException e) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "cannot encode move status", e);
    }
  }

  public Optional<Status> status(String table) {
    return cluster.raft().get(MOVES + table).map(Repartitioning::decode);
  }

  /** Every move recorded, with {@code running} shown as {@code abandoned} when its node is gone or restarted. */
  public List<Status> statuses() {
    // keys from this member's copy, values through the leader (never older than an acknowledged write)
    return cluster.raft().list(MOVES).stream().map(e -> cluster.raft().get(e.key()).orElse(e))
        .map(Repartitioning::decode)
        .map(s -> s.state().equals(effectiveState(s)) ? s : s.end(effectiveState(s), "the moving node " + s.node()
            + " stopped before it finished; the old layout is still in use"))
        .toList();
  }

  private String effectiveState(Status s) {
    if (!s.state().equals("running")) {
      return s.state();
    }
    boolean self = s.node().equals(cluster.identity().nodeName());
    boolean alive = tables.endpoints().containsKey(s.node());
    return (self && running.contains(s.table())) || (!self && alive) ? "running" : "abandoned";
  }

  private static Status decode(KvStateMachine.Entry e) {
    try {
      return JSON.readValue(e.value(), Status.class);
    } catch (java.io.IOException ex) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "unreadable move status under " + e.key(), ex);
    }
  }

  @Override
  public void close() {
    timers.shutdownNow();
  }
}
