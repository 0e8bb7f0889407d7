package io.quiver.server.cluster;

import io.quiver.catalog.cluster.ClusterConfig;
import io.quiver.catalog.cluster.ClusterMembership;
import io.quiver.catalog.cluster.GossipRegistry;
import io.quiver.catalog.cluster.NodeFacts;
import io.quiver.catalog.cluster.NodeFacts.ServiceFact;
import io.quiver.catalog.cluster.NodeFacts.TableFact;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's place in the cluster: its identity and published facts (roles, Flight endpoint,
 * services, local tables, load, custom keys), the gossip membership when it runs, and the
 * registry of what every member published. Gossip can be started at boot ({@code --cluster-id})
 * or later with {@code trex_db_start}, and stopped with {@code trex_db_stop}.
 */
public final class ClusterService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterService.class);
  static final Duration DEAD_RETENTION = Duration.ofMinutes(10);

  private final NodeIdentity identity;
  private final DuckDbEngine engine;
  private final IntSupplier activeQueries;
  private final java.util.function.Supplier<List<ServiceFact>> runningServices;
  private final Map<String, String> keys = new ConcurrentHashMap<>();
  private final List<ServiceFact> registeredServices = new CopyOnWriteArrayList<>();
  private final AtomicLong version = new AtomicLong();
  private volatile boolean dataNode;
  private volatile GossipRegistry registry;
  private ClusterMembership membership;
  private volatile io.quiver.catalog.raft.RaftMetadata raft;

  /**
   * @param runningServices the services this node runs (its Flight servers, main one first)
   */
  public ClusterService(NodeIdentity identity, DuckDbEngine engine, IntSupplier activeQueries,
      java.util.function.Supplier<List<ServiceFact>> runningServices) {
    this.identity = identity;
    this.engine = engine;
    this.activeQueries = activeQueries;
    this.runningServices = runningServices;
    this.dataNode = identity.roles().contains(NodeIdentity.Role.DATA);
  }

  public NodeIdentity identity() {
    return identity;
  }

  /** Joins a cluster; fails if gossip already runs. */
  public synchronized String start(ClusterConfig config) {
    if (membership != null) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "gossip is already running in cluster '%s' on %s; call trex_db_stop() first",
          membership.config().clusterId(), membership.config().gossipAddress());
    }
    GossipRegistry r = new GossipRegistry(config.suspectAfter(), DEAD_RETENTION);
    ClusterMembership m = new ClusterMembership(config, identity.nodeId(), () -> facts(config.gossipAddress()), r);
    m.start();
    registry = r;
    membership = m;
    return "joined cluster '" + config.clusterId() + "' on " + config.gossipAddress() + " as " + identity.nodeName()
        + (config.seeds().isEmpty() ? "" : " with seeds " + config.seeds());
  }

  /** Leaves the cluster; fails if gossip does not run. */
  public synchronized String stop() {
    if (membership == null) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "gossip is not running; start it with trex_db_start()");
    }
    String id = membership.config().clusterId();
    membership.close();
    membership = null;
    registry = null;
    return "left cluster '" + id + "'";
  }

  /** Starts this node's member of the Raft metadata group. */
  public synchronized void startRaft(io.quiver.catalog.raft.RaftMetadata.Config config) {
    if (raft != null) {
      throw new IllegalStateException("raft already started");
    }
    io.quiver.catalog.raft.RaftMetadata r = new io.quiver.catalog.raft.RaftMetadata(config);
    r.start();
    raft = r;
  }

  /** The Raft metadata store, or a clear error when this node was started without one. */
  public io.quiver.catalog.raft.RaftMetadata raft() {
    io.quiver.catalog.raft.RaftMetadata r = raft;
    if (r == null) {
      throw QuiverException.user(ErrorCode.NOT_SUPPORTED,
          "this node has no Raft metadata store: start it with --raft-members (see ./quiver node --help)");
    }
    return r;
  }

  public synchronized boolean running() {
    return membership != null;
  }

  public synchronized ClusterConfig clusterConfig() {
    return membership == null ? null : membership.config();
  }

  /** {@code trex_db_set('planner', 'calcite' | 'text')}: which planner this node's statements try first. */
  public static final String PLANNER_KEY = "planner";
  public static final String TEXT_PLANNER = "text";
  /**
   * {@code trex_db_set('stage_rows_max_bytes', n)}: the most bytes of Arrow IPC a stage's rows may
   * take to be sent to the next fragments; a stage with more makes its statement run gathered.
   */
  public static final String STAGE_ROWS_KEY = "stage_rows_max_bytes";

  /**
   * {@code trex_db_set}: a registry attribute of this node; {@code data_node} switches the data
   * role; {@code planner} chooses the planner ({@code calcite}, the default, or {@code text});
   * {@code stage_rows_max_bytes} bounds the rows a stage sends on.
   */
  public String set(String key, String value) {
    if (STAGE_ROWS_KEY.equals(key)) {
      long bytes;
      try {
        bytes = Long.parseLong(value == null ? "" : value.trim());
      } catch (NumberFormatException e) {
        bytes = -1;
      }
      if (bytes < 1) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "stage_rows_max_bytes must be a positive number of "
            + "bytes, got '%s'", value);
      }
      return setKey(key, Long.toString(bytes));
    }
    if (PLANNER_KEY.equals(key)) {
      String v = value == null ? "" : value.trim().toLowerCase(java.util.Locale.ROOT);
      if (!v.equals("calcite") && !v.equals(TEXT_PLANNER)) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "planner must be 'calcite' (the Apache Calcite planner "
            + "first, the text planner for what it declines) or 'text' (the text planner only), got '%s'", value);
      }
      return setKey(key, v);
    }
    if ("data_node".equals(key)) {
      if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false")) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "data_node must be 'true' or 'false', got '%s'", value);
      }
      dataNode = Boolean.parseBoolean(value.toLowerCase(java.util.Locale.ROOT));
      publishNow(); // catalog refresh: tables are (re)advertised or withdrawn with the flag
      return "data_node = " + dataNode;
    }
    return setKey(key, value);
  }

  /** {@code trex_db_set_key}: a custom key every member sees. */
  public String setKey(String key, String value) {
    if (key == null || key.isBlank()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "a gossip key must not be empty");
    }
    keys.put(key, value == null ? "" : value);
    publishNow();
    return "set " + key;
  }

  /** A key this node set with {@code trex_db_set}/{@code trex_db_set_key}. */
  public java.util.Optional<String> key(String key) {
    return java.util.Optional.ofNullable(keys.get(key));
  }

  public String deleteKey(String key) {
    if (keys.remove(key) == null) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "gossip key '%s' is not set on this node", key);
    }
    publishNow();
    return "deleted " + key;
  }

  public String registerService(String name, String host, int port) {
    if (name == null || name.isBlank() || host == null || host.isBlank() || port < 1 || port > 65_535) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "a service needs a name, a host and a port between 1 and 65535 (got '%s', '%s', %d)", name, host, port);
    }
    registeredServices.removeIf(s -> s.name().equals(name));
    registeredServices.add(new ServiceFact(name, host, port, "registered", System.currentTimeMillis(), "{}"));
    publishNow();
    return "registered service " + name + " at " + host + ":" + port;
  }

  /** Withdraws a service registered with {@code trex_db_register_service}; returns whether one was. */
  public boolean deregisterService(String name) {
    boolean removed = registeredServices.removeIf(s -> s.name().equals(name));
    if (removed) {
      publishNow();
    }
    return removed;
  }

  /** Tells the cluster at once that the node's services changed. */
  public void servicesChanged() {
    publishNow();
  }

  public boolean dataNode() {
    return dataNode;
  }

  /** This node's facts as it publishes them; {@code gossipAddress} is empty when gossip does not run. */
  public NodeFacts facts(String gossipAddress) {
    List<ServiceFact> services = new ArrayList<>(runningServices.get());
    ServiceFact main = services.get(0);
    services.addAll(registeredServices);
    return new NodeFacts(identity.nodeId(), identity.nodeName(), gossipAddress, identity.roleNames(),
        dataNode, main.host() + ":" + main.port(), services, dataNode ? localTables() : List.of(),
        activeQueries.getAsInt(), Map.copyOf(keys), identity.startedAtMillis(), version.incrementAndGet());
  }

  /** Members as gossip sees them; without gossip, just this node. */
  public List<GossipRegistry.Member> members() {
    GossipRegistry r = registry;
    if (r != null) {
      return r.members();
    }
    return List.of(new GossipRegistry.Member(facts(""), io.quiver.catalog.cluster.NodeStatus.ALIVE, 0));
  }

  /** Members not known to be dead (just this node without gossip): whose tables and services are offered. */
  public List<NodeFacts> liveFacts() {
    GossipRegistry r = registry;
    return r != null ? r.liveFacts() : List.of(facts(""));
  }

  /** The Flight endpoint of another live data node that advertises {@code table}, if any. */
  public java.util.Optional<String> endpointOfRemoteTable(String table) {
    GossipRegistry r = registry;
    if (r == null) {
      return java.util.Optional.empty();
    }
    for (NodeFacts f : r.liveFacts()) {
      if (!f.nodeId().equals(identity.nodeId()) && f.dataNode()
          && f.tables().stream().anyMatch(t -> t.name().equalsIgnoreCase(table))) {
        return java.util.Optional.of(f.flightEndpoint());
      }
    }
    return java.util.Optional.empty();
  }

  /** A node-local table as gossip lists it: its data node's Flight endpoint, whether that is this node, its fact. */
  public record TableOnNode(String endpoint, boolean self, TableFact fact) {}

  /**
   * The one data node holding a table named {@code table} (any case), from gossip; empty when none
   * does, or when several do (each node's statements would read its own, so no plan may name one).
   */
  public java.util.Optional<TableOnNode> tableOnNode(String table) {
    GossipRegistry r = registry;
    if (r == null) {
      return java.util.Optional.empty();
    }
    TableOnNode found = null;
    for (NodeFacts f : r.liveFacts()) {
      if (!f.dataNode()) {
        continue;
      }
      for (TableFact t : f.tables()) {
        if (t.name().equalsIgnoreCase(table)) {
          if (found != null) {
            return java.util.Optional.empty();
          }
          found = new TableOnNode(f.flightEndpoint(), f.nodeId().equals(identity.nodeId()), t);
        }
      }
    }
    return java.util.Optional.ofNullable(found);
  }

  /** Whether this node has a Raft store (distributed tables need one). */
  public boolean hasRaft() {
    return raft != null;
  }

  private void publishNow() {
    ClusterMembership m;
    synchronized (this) {
      m = membership;
    }
    if (m != null) {
      m.publishNow();
    }
  }

  private List<TableFact> localTables() {
    List<TableFact> out = new ArrayList<>();
    try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT t.schema_name, t.table_name, t.estimated_size, "
            + "md5(string_agg(c.column_name || ' ' || c.data_type, ',' ORDER BY c.column_index)) "
            + "FROM duckdb_tables() t JOIN duckdb_columns() c USING (database_name, schema_name, table_name) "
            + "WHERE NOT t.internal AND NOT t.temporary AND t.database_name = current_database() "
            + "GROUP BY ALL ORDER BY 1, 2")) {
      while (rs.next()) {
        String schema = rs.getString(1);
        String name = "main".equals(schema) ? rs.getString(2) : schema + "." + rs.getString(2);
        out.add(new TableFact(name, rs.getLong(3), rs.getString(4).substring(0, 16)));
      }
    } catch (SQLException | RuntimeException e) {
      LOG.warn("cannot list local tables for gossip: {}", e.getMessage());
    }
    return out;
  }

  @Override
  public synchronized void close() {
    if (raft != null) {
      raft.close();
      raft = null;
    }
    if (membership != null) {
      membership.close();
      membership = null;
      registry = null;
    }
  }

  static String uptimeSeconds(long startedAtMillis) {
    return Long.toString(Math.max(0, (System.currentTimeMillis() - startedAtMillis) / 1000));
  }
}
