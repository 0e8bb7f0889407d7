package io.quiver.server.cluster;

import io.quiver.catalog.cluster.ClusterConfig;
import io.quiver.catalog.cluster.GossipRegistry;
import io.quiver.catalog.cluster.NodeFacts;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.FunctionFailures;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBDataChunkWriter;
import org.duckdb.DuckDBFunctions;
import org.duckdb.DuckDBReadableVector;
import org.duckdb.DuckDBScalarFunctionBuilder;
import org.duckdb.DuckDBTableFunction;
import org.duckdb.DuckDBTableFunctionBindInfo;
import org.duckdb.DuckDBTableFunctionCallInfo;
import org.duckdb.DuckDBTableFunctionInitInfo;

/**
 * The {@code trex_db_*} SQL admin surface, registered as DuckDB functions so they compose with
 * any SQL ({@code SELECT * FROM trex_db_nodes() WHERE status = 'alive'}). Names, arguments, return
 * types and result columns follow the trexsql {@code db} reference. Functions whose feature is not
 * built yet raise a clear "not supported yet" error instead of returning a made-up value.
 */
public final class TrexFunctions {
  /** What the functions reach besides the cluster service. */
  public record NodeInfo(String version, io.quiver.server.FlightServices flight, PluginLoader plugins,
      DistributedTables tables, Repartitioning moves, java.util.concurrent.atomic.AtomicBoolean distributedPlanning,
      Map<String, io.quiver.server.query.RemoteTables.Part> externals, Supplier<Map<String, String>> settings) {}

  private final ClusterService cluster;
  private final NodeInfo node;

  public TrexFunctions(ClusterService cluster, NodeInfo node) {
    this.cluster = cluster;
    this.node = node;
  }

  public void register(DuckDbEngine engine) {
    engine.withRootConnection(this::registerOn);
  }

  private void registerOn(DuckDBConnection c) throws SQLException {
    scalar(c, "trex_db_start", List.of(String.class, Integer.class, String.class),
        a -> cluster.start(config((String) a[0], (Integer) a[1], (String) a[2], "")));
    scalar(c, "trex_db_start_seeds", List.of(String.class, Integer.class, String.class, String.class),
        a -> cluster.start(config((String) a[0], (Integer) a[1], (String) a[2], (String) a[3])));
    scalar(c, "trex_db_stop", List.of(), a -> cluster.stop());
    scalar(c, "trex_db_set", List.of(String.class, String.class), a -> cluster.set((String) a[0], (String) a[1]));
    scalar(c, "trex_db_set_key", List.of(String.class, String.class), a -> cluster.setKey((String) a[0], (String) a[1]));
    scalar(c, "trex_db_delete_key", List.of(String.class), a -> cluster.deleteKey((String) a[0]));
    scalar(c, "trex_db_register_service", List.of(String.class, String.class, Integer.class),
        a -> cluster.registerService((String) a[0], (String) a[1], (Integer) a[2]));
    scalar(c, "trex_db_start_service", List.of(String.class, String.class),
        a -> startService((String) a[0], (String) a[1]));
    scalar(c, "trex_db_stop_service", List.of(String.class), a -> stopService((String) a[0]));
    scalar(c, "trex_db_flight_start", List.of(String.class, Integer.class), a -> {
      String r = node.flight().start((String) a[0], (Integer) a[1]);
      cluster.servicesChanged();
      return r;
    });
    scalar(c, "trex_db_flight_stop", List.of(String.class, Integer.class), a -> {
      String r = node.flight().stop((String) a[0], (Integer) a[1]);
      cluster.servicesChanged();
      return r;
    });
    scalar(c, "trex_db_flight_version", List.of(),
        a -> "Quiver " + node.version() + " (Arrow Flight SQL 18.3.0)");
    scalar(c, "trex_db_load", List.of(String.class), a -> node.plugins().load((String) a[0]));

    registerRaftFunctions(c);
    registerPartitionFunctions(c);
    table(c, "trex_db_nodes", List.of("node_id", "node_name", "gossip_addr", "data_node", "status"), () -> {
      List<List<String>> rows = new ArrayList<>();
      for (GossipRegistry.Member m : cluster.members()) {
        NodeFacts f = m.facts();
        rows.add(List.of(f.nodeId(), f.nodeName(), f.gossipAddr(), Boolean.toString(f.dataNode()), m.status().sqlName()));
      }
      return rows;
    });
    table(c, "trex_db_config", List.of("key", "value"), this::configRows);
    table(c, "trex_db_tables", List.of("node_name", "table_name", "approx_rows", "schema_hash"), () -> {
      List<List<String>> rows = new ArrayList<>();
      for (NodeFacts f : cluster.liveFacts()) {
        for (NodeFacts.TableFact t : f.tables()) {
          rows.add(List.of(f.nodeName(), t.name(), Long.toString(t.approxRows()), t.schemaHash()));
        }
      }
      if (cluster.hasRaft()) {
        // distributed tables: every node holding a copy, the exact total and the shards' schema hash
        for (DistributedTables.Definition d : node.tables().all()) {
          String holders = String.join(",", d.shards().stream().flatMap(s -> s.nodes().stream()).distinct().sorted()
              .toList());
          String count;
          try {
            count = Long.toString(node.tables().rowCount(d));
          } catch (QuiverException unavailable) {
            count = null; // a shard without an alive copy: the total is unknown, not smaller
          }
          rows.add(java.util.Arrays.asList(holders, d.name(), count, node.tables().schemaHash(d)));
        }
      }
      return rows;
    });
    table(c, "trex_db_services", List.of("node_name", "service_name", "host", "port", "status", "uptime_seconds",
        "config"), () -> {
          List<List<String>> rows = new ArrayList<>();
          for (NodeFacts f : cluster.liveFacts()) {
            for (NodeFacts.ServiceFact s : f.services()) {
              rows.add(List.of(f.nodeName(), s.name(), s.host(), Integer.toString(s.port()), s.status(),
                  ClusterService.uptimeSeconds(s.startedAtMillis()), s.config()));
            }
          }
          return rows;
        });
    table(c, "trex_db_flight_status", List.of("hostname", "port", "uptime_seconds", "tls_enabled"),
        () -> node.flight().endpoints().stream().map(e -> List.of(e.host(), Integer.toString(e.port()),
            ClusterService.uptimeSeconds(e.startedAtMillis()), "false")).toList());
    table(c, "trex_db_gossip_keys", List.of("node_name", "key", "value"), () -> {
      List<List<String>> rows = new ArrayList<>();
      for (NodeFacts f : cluster.liveFacts()) {
        f.keys().entrySet().stream().sorted(Map.Entry.comparingByKey())
            .forEach(e -> rows.add(List.of(f.nodeName(), e.getKey(), e.getValue())));
      }
      return rows;
    });
  }

  /**
   * The Raft key/value store (modelled on pgraft): put/get/delete/exists, listing and status. Reads
   * are local; {@code maybe_stale} says when this member has no leader and may lag behind.
   */
  private void registerRaftFunctions(DuckDBConnection c) throws SQLException {
    scalar(c, "trex_db_kv_put", List.of(String.class, String.class), a -> {
      io.quiver.catalog.raft.KvStateMachine.Entry e = cluster.raft().put((String) a[0], (String) a[1]);
      return "version " + e.version();
    });
    scalar(c, "trex_db_kv_get", List.of(String.class), String.class,
        a -> cluster.raft().get((String) a[0]).map(io.quiver.catalog.raft.KvStateMachine.Entry::value).orElse(null));
    scalar(c, "trex_db_kv_exists", List.of(String.class), Boolean.class,
        a -> cluster.raft().get((String) a[0]).isPresent());
    scalar(c, "trex_db_kv_delete", List.of(String.class), Boolean.class, a -> cluster.raft().delete((String) a[0]));
    table(c, "trex_db_kv_list", List.of("key", "value", "version", "updated_at", "maybe_stale"), () -> {
      io.quiver.catalog.raft.RaftMetadata r = cluster.raft();
      String stale = Boolean.toString(r.maybeStale());
      List<List<String>> rows = new ArrayList<>();
      for (io.quiver.catalog.raft.KvStateMachine.Entry e : r.list("")) {
        rows.add(java.util.Arrays.asList(e.key(), e.value(), Long.toString(e.version()),
            java.time.Instant.ofEpochMilli(e.updatedAtMillis()).toString(), stale));
      }
      return rows;
    });
    table(c, "trex_db_raft_status", List.of("raft_id", "role", "leader", "term", "commit_index", "applied_index",
        "members", "reachable_members", "kv_keys", "maybe_stale"), () -> {
          io.quiver.catalog.raft.RaftMetadata r = cluster.raft();
          io.quiver.catalog.raft.RaftMetadata.Status s = r.status();
          return List.of(java.util.Arrays.asList(s.raftId(), s.role(), s.leader(), Long.toString(s.term()),
              Long.toString(s.commitIndex()), Long.toString(s.appliedIndex()), String.join(",", s.members()),
              Integer.toString(s.reachable()), Integer.toString(r.size()), Boolean.toString(r.maybeStale())));
        });
  }

  /** Distributed tables (reference: "Data Partitioning"). */
  private void registerPartitionFunctions(DuckDBConnection c) throws SQLException {
    scalar(c, "trex_db_create_table", List.of(String.class, String.class),
        a -> node.tables().create((String) a[0], (String) a[1]));
    scalar(c, "trex_db_set_distributed", List.of(Boolean.class), a -> {
      if (a[0] == null) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "enabled must be true or false, not NULL");
      }
      node.distributedPlanning().set((Boolean) a[0]);
      return (Boolean) a[0] ? "distributed planning enabled on this node: shards run scans, filters and single-table "
          + "aggregates" : "distributed planning disabled on this node: tables of other nodes are fetched whole and "
          + "every query runs here";
    });
    scalar(c, "trex_db_attach_flight", List.of(String.class, String.class, String.class), a -> {
      String name = a[0] == null ? "" : ((String) a[0]).trim();
      if (name.isEmpty() || a[1] == null || !((String) a[1]).matches("[^:]+:\\d+") || a[2] == null) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "trex_db_attach_flight(name, 'host:port', query) needs "
            + "a name, a host:port endpoint and a query");
      }
      node.externals().put(name.toLowerCase(java.util.Locale.ROOT),
          io.quiver.server.query.RemoteTables.Part.external(name, (String) a[1], (String) a[2]));
      return "attached " + name + " = Flight SQL " + a[1] + ": " + a[2];
    });
    scalar(c, "trex_db_attach_arrow", List.of(String.class, String.class), a -> {
      String name = a[0] == null ? "" : ((String) a[0]).trim();
      if (name.isEmpty() || a[1] == null || ((String) a[1]).isBlank()) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "trex_db_attach_arrow(name, path) needs a name and the "
            + "path of an Arrow IPC file on this node");
      }
      io.quiver.server.query.RemoteTables.Part part = io.quiver.server.query.RemoteTables.Part.arrowFile(name,
          (String) a[1]);
      List<AutoCloseable> check = new java.util.ArrayList<>();
      org.apache.arrow.memory.BufferAllocator probe = new org.apache.arrow.memory.RootAllocator();
      try {
        String columns = io.quiver.server.query.RemoteTables.openArrowFile(part, probe, check).getVectorSchemaRoot()
            .getSchema().getFields().stream().map(org.apache.arrow.vector.types.pojo.Field::getName)
            .collect(java.util.stream.Collectors.joining(", "));
        node.externals().put(name.toLowerCase(java.util.Locale.ROOT), part);
        return "attached " + name + " = Arrow IPC file " + a[1] + " (" + columns + ")";
      } catch (java.io.IOException e) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "the Arrow IPC file %s cannot be read: %s", a[1],
            e.getMessage());
      } finally {
        io.quiver.server.query.QueryExecution.closeAll(check); // the reader before its allocator
        probe.close();
      }
    });
    for (String detach : List.of("trex_db_detach_flight", "trex_db_detach_arrow")) {
      scalar(c, detach, List.of(String.class), a -> {
        if (a[0] == null || node.externals().remove(((String) a[0]).toLowerCase(java.util.Locale.ROOT)) == null) {
          throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "no external source named '%s' is attached on this "
              + "node", a[0]);
        }
        return "detached " + a[0];
      });
    }
    // listed in the reference, built by the admission, security and metrics issues
    scalar(c, "trex_db_cancel_query", List.of(String.class), a -> notYet("trex_db_cancel_query (admission control); "
        + "cancel a statement with Flight SQL CancelFlightInfo or the client's cancel"));
    scalar(c, "trex_db_set_priority", List.of(String.class), a -> notYet("trex_db_set_priority (admission control); "
        + "set the Flight SQL session option 'priority' instead"));
    scalar(c, "trex_db_set_user_quota", List.of(String.class, Integer.class), a -> notYet("trex_db_set_user_quota "
        + "(admission control)"));
    scalar(c, "trex_db_flight_start_tls", List.of(String.class, Integer.class, String.class, String.class,
        String.class), a -> notYet("trex_db_flight_start_tls (TLS)"));
    table(c, "trex_db_query_status", List.of("query_id", "status", "queue_position", "submitted_at", "user_id"),
        () -> notYetRows("trex_db_query_status (admission control)"));
    table(c, "trex_db_cluster_status", List.of("total_nodes", "active_queries", "queued_queries",
        "memory_utilization_pct"), () -> notYetRows("trex_db_cluster_status (admission control)"));
    table(c, "trex_db_metrics", List.of("metric_name", "metric_type", "value", "labels"),
        () -> notYetRows("trex_db_metrics (Micrometer metrics)"));
    scalar(c, "trex_db_partition_table", List.of(String.class, String.class),
        a -> node.moves().partition((String) a[0], (String) a[1]));
    scalar(c, "trex_db_repartition_table", List.of(String.class, String.class),
        a -> node.moves().repartition((String) a[0], (String) a[1]));
    table(c, "trex_db_repartition_status", List.of("table_name", "state", "node_name", "from_layout", "to_layout",
        "shards_done", "shards_total", "rows_moved", "started", "finished", "message"), () -> {
          List<List<String>> rows = new ArrayList<>();
          for (Repartitioning.Status s : node.moves().statuses()) {
            rows.add(java.util.Arrays.asList(s.table(), s.state(), s.node(), s.from(), s.to(),
                Integer.toString(s.shardsDone()), Integer.toString(s.shardsTotal()), Long.toString(s.rowsMoved()),
                java.time.Instant.ofEpochMilli(s.startedMillis()).toString(),
                s.finishedMillis() == 0 ? null : java.time.Instant.ofEpochMilli(s.finishedMillis()).toString(),
                s.message()));
          }
          return rows;
        });
    table(c, "trex_db_partitions", List.of("table_name", "strategy", "column", "partition_id", "node_name",
        "flight_endpoint", "shard_table"), () -> {
          List<List<String>> rows = new ArrayList<>();
          Map<String, String> endpoints = node.tables().endpoints();
          for (DistributedTables.Definition d : node.tables().all()) {
            for (io.quiver.partitioning.ShardPlacement.Shard shard : d.shards()) {
              for (String n : shard.nodes()) {
                rows.add(java.util.Arrays.asList(d.name(), d.strategy(), d.column(), Integer.toString(shard.id()), n,
                    endpoints.get(n), d.shardTable(shard.id())));
              }
            }
          }
          return rows;
        });
  }

  private List<List<String>> configRows() {
    List<List<String>> rows = new ArrayList<>();
    NodeIdentity id = cluster.identity();
    rows.add(List.of("node_id", id.nodeId()));
    rows.add(List.of("node_name", id.nodeName()));
    rows.add(List.of("roles", String.join(",", id.roleNames())));
    rows.add(List.of("data_node", Boolean.toString(cluster.dataNode())));
    rows.add(List.of("version", node.version()));
    io.quiver.server.FlightServices.Endpoint main = node.flight().endpoints().get(0);
    rows.add(List.of("flight_host", main.host()));
    rows.add(List.of("flight_port", Integer.toString(main.port())));
    ClusterConfig cc = cluster.clusterConfig();
    rows.add(List.of("gossip", cc == null ? "stopped" : "running"));
    if (cc != null) {
      rows.add(List.of("cluster_id", cc.clusterId()));
      rows.add(List.of("gossip_addr", cc.gossipAddress()));
      rows.add(List.of("seeds", String.join(",", cc.seeds().stream()
          .map(s -> s.getHostString() + ":" + s.getPort()).toList())));
    }
    node.settings().get().forEach((k, v) -> rows.add(List.of(k, v)));
    return rows;
  }

  private static ClusterConfig config(String host, Integer port, String clusterId, String seeds) {
    if (host == null || port == null || clusterId == null) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "host, port and cluster_id must not be NULL");
    }
    return new ClusterConfig(clusterId, host, port, ClusterConfig.parseSeeds(seeds), ClusterConfig.DEFAULT_SUSPECT_AFTER);
  }

  /** Service extensions: {@code flight} (config {@code {"host": ..., "port": ...}}); others are not built yet. */
  private String startService(String extension, String config) {
    if (!"flight".equals(extension)) {
      return notYet("the service extension '" + extension + "' (available: flight)");
    }
    com.fasterxml.jackson.databind.JsonNode json;
    try {
      json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(config == null ? "{}" : config);
    } catch (IOException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "the service config is not valid JSON: %s",
          e.getMessage());
    }
    if (json == null || !json.path("port").canConvertToInt()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "the flight service needs a config like {\"host\": \"127.0.0.1\", \"port\": 8815}");
    }
    String r = node.flight().start(json.path("host").asText("127.0.0.1"), json.path("port").asInt());
    cluster.servicesChanged();
    return r;
  }

  private String stopService(String extension) {
    if ("flight".equals(extension)) {
      int n = node.flight().stopAllExtra();
      if (n == 0) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
            "no extra Flight server runs (the main one stops with the node)");
      }
      cluster.servicesChanged();
      return "stopped " + n + " Flight server" + (n == 1 ? "" : "s");
    }
    if (cluster.deregisterService(extension)) {
      return "deregistered service " + extension;
    }
    throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "no service '%s' runs or is registered on this node",
        extension);
  }

  private static List<List<String>> notYetRows(String what) {
    notYet(what);
    return List.of();
  }

  private static String notYet(String what) {
    throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "%s is not supported yet", what);
  }

  // ---------------------------------------------------------------- registration helpers

  private static void scalar(DuckDBConnection c, String name, List<Class<?>> params, Function<Object[], String> fn)
      throws SQLException {
    scalar(c, name, params, String.class, fn::apply);
  }

  private static void scalar(DuckDBConnection c, String name, List<Class<?>> params, Class<?> returns,
      Function<Object[], Object> fn) throws SQLException {
    try (DuckDBScalarFunctionBuilder b = DuckDBFunctions.scalarFunction()) {
      b.withName(name).withReturnType(returns).withVolatile();
      if (!params.isEmpty()) {
        b.withParameters(params.toArray(new Class<?>[0]));
      }
      b.withVectorizedFunction((in, out) -> {
        for (int row = 0; row < in.rowCount(); row++) {
          Object[] args = new Object[params.size()];
          for (int i = 0; i < args.length; i++) {
            args[i] = read(in.vector(i), row, params.get(i));
          }
          Object result = FunctionFailures.recording(() -> fn.apply(args));
          if (result == null) {
            out.setNull(row);
          } else if (result instanceof Boolean bool) {
            out.setBoolean(row, bool);
          } else {
            out.setString(row, result.toString());
          }
        }
      });
      b.register(c);
    }
  }

  private static Object read(DuckDBReadableVector v, int row, Class<?> type) {
    if (v.isNull(row)) {
      return null;
    }
    if (type == Boolean.class) {
      return v.getBoolean(row);
    }
    return type == Integer.class ? (Object) v.getInt(row) : v.getString(row);
  }

  /** Rows of one table-function call, taken once when the call starts. */
  private static final class Scan {
    final List<List<String>> rows;
    int position;

    Scan(List<List<String>> rows) {
      this.rows = rows;
    }
  }

  /** A table function whose columns are all VARCHAR; its rows are a snapshot taken when a call starts. */
  private static void table(DuckDBConnection c, String name, List<String> columns, Supplier<List<List<String>>> rows)
      throws SQLException {
    DuckDBFunctions.tableFunction().withName(name).withFunction(new DuckDBTableFunction<Object, Scan, Object>() {
      @Override
      public Object bind(DuckDBTableFunctionBindInfo info) {
        for (String col : columns) {
          info.addResultColumn(col, String.class);
        }
        return null;
      }

      @Override
      public Scan init(DuckDBTableFunctionInitInfo info) {
        info.setMaxThreads(1);
        return new Scan(FunctionFailures.recording(rows));
      }

      @Override
      public long apply(DuckDBTableFunctionCallInfo info, DuckDBDataChunkWriter out) {
        Scan scan = info.getInitData();
        int n = (int) Math.min(out.capacity(), scan.rows.size() - scan.position);
        for (int r = 0; r < n; r++) {
          List<String> row = scan.rows.get(scan.position + r);
          for (int col = 0; col < columns.size(); col++) {
            String value = row.get(col);
            if (value == null) {
              out.vector(col).setNull(r);
            } else {
              out.vector(col).setString(r, value);
            }
          }
        }
        scan.position += n;
        return n;
      }
    }).register(c);
  }
}
