package io.quiver.server.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.catalog.cluster.GossipRegistry;
import io.quiver.catalog.cluster.NodeFacts;
import io.quiver.catalog.cluster.NodeStatus;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.catalog.raft.KvStateMachine;
import io.quiver.partitioning.PartitionSpec;
import io.quiver.partitioning.PartitionSpecParser;
import io.quiver.partitioning.ShardPlacement;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.NodeCalls;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Result;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;

/**
 * Distributed tables: their definitions (columns, partition spec, shard placement) live in the
 * Raft store under {@code tables/<name>}; each shard is a local table {@code <name>_<shard>} on the
 * nodes that hold it. Creating a table validates the config against the columns, places the
 * shards on the alive data nodes and creates them over Flight.
 */
public final class DistributedTables {
  static final String PREFIX = "tables/";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A distributed table as stored in Raft. */
  public record Definition(String name, Map<String, String> columns, String strategy, String column,
      int numPartitions, List<String> ranges, int replicationFactor, String colocateWith,
      List<ShardPlacement.Shard> shards, int generation) {
    /** The local table holding shard {@code id} of this layout. */
    public String shardTable(int id) {
      return ShardPlacement.shardTable(name, generation, id);
    }

    /** The same table with another partitioning, placement and layout generation. */
    public Definition withLayout(PartitionSpec spec, List<ShardPlacement.Shard> newShards, int newGeneration) {
      return new Definition(name, columns, spec.strategy(), columnOf(spec), spec.numPartitions(),
          spec instanceof PartitionSpec.Range r ? r.bounds() : List.of(), spec.replicationFactor(),
          spec.colocateWith().orElse(null), newShards, newGeneration);
    }

    /** {@code hash(id) x4 rf2} and the like, for messages and status. */
    public String describe() {
      return strategy + (column == null ? "" : "(" + column + ")") + " x" + numPartitions
          + (replicationFactor > 1 ? " rf" + replicationFactor : "");
    }

    /** The partitioning as a spec value. */
    public PartitionSpec spec() {
      Optional<String> colocate = Optional.ofNullable(colocateWith);
      return switch (strategy) {
        case "hash" -> new PartitionSpec.Hash(column, numPartitions, replicationFactor, colocate);
        case "range" -> new PartitionSpec.Range(column, ranges, replicationFactor, colocate);
        default -> new PartitionSpec.Replicated();
      };
    }

    /** The SQL expression giving a row's shard id, over the (quoted) partition column. */
    public String shardExpression() {
      return column == null ? "0" : io.quiver.partitioning.ShardRouting.shardExpression(spec(),
          ArrowSchemas.quoteIdentifier(column), columns.get(column));
    }

    /** The column list for a CREATE TABLE of a shard or staging table: {@code "a" INTEGER, ...}. */
    public String columnsSql() {
      return ArrowSchemas.columnDefinitions(columns);
    }
  }

  private final ClusterService cluster;
  private final DuckDbEngine engine;
  private final BufferAllocator allocator;

  private final io.quiver.server.query.NodeClients clients;

  public DistributedTables(ClusterService cluster, DuckDbEngine engine, BufferAllocator allocator,
      io.quiver.server.query.NodeClients clients) {
    this.clients = clients;
    this.cluster = cluster;
    this.engine = engine;
    this.allocator = allocator;
  }

  /** {@code trex_db_create_table(create_sql, config)}. */
  public String create(String createSql, String config) {
    var raft = cluster.raft();
    Probe probe = probe(createSql);
    if (raft.get(PREFIX + probe.table()).isPresent()) {
      throw QuiverException.user(ErrorCode.ALREADY_EXISTS, "distributed table '%s' already exists", probe.table());
    }
    PartitionSpec spec = PartitionSpecParser.parse(config, probe.table(), probe.columns());
    List<ShardPlacement.Shard> shards = placement(spec);
    Map<String, String> endpoints = endpoints();
    StringBuilder columnsSql = new StringBuilder();
    probe.columns().forEach((name, type) -> columnsSql.append(columnsSql.length() == 0 ? "" : ", ")
        .append(ArrowSchemas.quoteIdentifier(name)).append(' ').append(type));
    for (ShardPlacement.Shard shard : shards) {
      String ddl = "CREATE TABLE " + ArrowSchemas.quoteIdentifier(ShardPlacement.shardTable(probe.table(), shard.id()))
          + " (" + columnsSql + ")";
      for (String node : shard.nodes()) {
        runOn(node, endpoints, ddl);
      }
    }
    Definition d = new Definition(probe.table(), probe.columns(), spec.strategy(), columnOf(spec),
        spec.numPartitions(), spec instanceof PartitionSpec.Range r ? r.bounds() : List.of(), spec.replicationFactor(),
        spec.colocateWith().orElse(null), shards, 0);
    put(d);
    return "created distributed table " + probe.table() + " (" + spec.strategy() + ", " + shards.size() + " shard"
        + (shards.size() == 1 ? "" : "s") + " on " + shards.stream().flatMap(s -> s.nodes().stream()).distinct().count()
        + " node(s))";
  }

  /** Records (or replaces, in one Raft write) a table's definition. */
  void put(Definition d) {
    try {
      cluster.raft().put(PREFIX + d.name(), JSON.writeValueAsString(d));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "cannot encode the table definition", e);
    }
  }

  static String columnOf(PartitionSpec spec) {
    return spec instanceof PartitionSpec.Hash h ? h.column() : spec instanceof PartitionSpec.Range r ? r.column() : null;
  }

  /**
   * {@code DROP TABLE} of a distributed table: the definition goes first (from then on nobody
   * reads or writes the table), then every shard copy; copies on nodes that are down stay behind
   * as ordinary tables and are named in the answer.
   */
  public String drop(Definition d) {
    cluster.raft().delete(PREFIX + d.name());
    Map<String, String> endpoints = endpoints();
    Map<String, RuntimeException> failed = dropCopies(d, endpoints);
    List<String> leftBehind = new ArrayList<>(failed.keySet());
    int dropped = (int) d.shards().stream().mapToLong(shard -> shard.nodes().size()).sum() - failed.size();
    // copies of layouts that never took over (a move whose node died) are named like shards too
    String pattern = java.util.regex.Pattern.quote(d.name()).replace("'", "''") + "_(v[0-9]+_)?[0-9]+";
    for (Map.Entry<String, String> node : endpoints.entrySet()) {
      try {
        for (Object orphan : remoteColumn(node.getValue(), "SELECT table_name FROM duckdb_tables() WHERE "
            + "schema_name = 'main' AND regexp_full_match(table_name, '" + pattern + "')")) {
          runOn(node.getKey(), endpoints, "DROP TABLE IF EXISTS " + ArrowSchemas.quoteIdentifier((String) orphan));
          dropped++;
        }
      } catch (RuntimeException e) {
        leftBehind.add("leftover copies on " + node.getKey() + " (" + e.getMessage() + ")");
      }
    }
    return "dropped distributed table " + d.name() + " (" + dropped + " shard copies" + (leftBehind.isEmpty() ? ")"
        : "; left behind on nodes that are down: " + String.join(", ", leftBehind) + ")");
  }

  /**
   * Drops every copy of every shard of a layout, going on past failures; returns each copy that
   * could not be dropped ({@code "<shard table> on <node>"}) with the reason.
   */
  Map<String, RuntimeException> dropCopies(Definition d, Map<String, String> endpoints) {
    Map<String, RuntimeException> failed = new LinkedHashMap<>();
    for (ShardPlacement.Shard shard : d.shards()) {
      for (String node : shard.nodes()) {
        try {
          runOn(node, endpoints, "DROP TABLE IF EXISTS " + ArrowSchemas.quoteIdentifier(d.shardTable(shard.id())));
        } catch (RuntimeException e) {
          failed.put(d.shardTable(shard.id()) + " on " + node, e);
        }
      }
    }
    return failed;
  }

  public Optional<Definition> definition(String table) {
    return cluster.raft().get(PREFIX + table).map(DistributedTables::decode);
  }

  /**
   * The definition as this member's Raft copy has it (no round trip to the leader), for reading:
   * a layout switch reaches it within the replication delay, and a switched-from layout stays
   * readable for a grace period after the switch. Through the leader when this member may be stale.
   */
  public Optional<Definition> definitionForRead(String table) {
    if (cluster.raft().maybeStale()) {
      return definition(table);
    }
    return cluster.raft().getLocal(PREFIX + table).map(DistributedTables::decode);
  }

  public List<Definition> all() {
    // keys from this member's copy, each value through the leader: never older than an acknowledged write
    return cluster.raft().list(PREFIX).stream().map(e -> cluster.raft().get(e.key())).flatMap(Optional::stream)
        .map(DistributedTables::decode).toList();
  }

  private static Definition decode(KvStateMachine.Entry e) {
    try {
      return JSON.readValue(e.value(), Definition.class);
    } catch (java.io.IOException ex) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "unreadable definition under " + e.key(), ex);
    }
  }

  /**
   * The shards of a distributed table as parts to read: for each shard, this node's copy if it has
   * one, else the first alive copy. Empty when {@code table} is not a distributed table. A name
   * this member's Raft copy does not know is asked of the leader: a table distributed a moment ago
   * from another node is readable here at once (this runs only for names the engine did not find).
   */
  public Optional<List<io.quiver.server.query.RemoteTables.Part>> partsOf(String table) {
    if (!cluster.hasRaft()) {
      return Optional.empty();
    }
    Optional<Definition> d = definitionForRead(table).or(() -> definition(table));
    if (d.isEmpty()) {
      return Optional.empty();
    }
    Map<String, String> endpoints = endpoints();
    String self = cluster.identity().nodeName();
    List<io.quiver.server.query.RemoteTables.Part> parts = new ArrayList<>();
    Map<String, String> columns = d.get().columns();
    for (ShardPlacement.Shard shard : d.get().shards()) {
      String shardTable = d.get().shardTable(shard.id());
      if (shard.nodes().contains(self)) {
        parts.add(new io.quiver.server.query.RemoteTables.Part(shardTable, null, columns));
        continue;
      }
      String node = shard.nodes().stream().filter(endpoints::containsKey).findFirst().orElseThrow(() ->
          new QuiverException(ErrorCode.REMOTE_ERROR, "shard " + shardTable + " of " + table
              + " has no alive copy (its nodes: " + String.join(", ", shard.nodes()) + ")"));
      parts.add(new io.quiver.server.query.RemoteTables.Part(shardTable, endpoints.get(node), columns));
    }
    return Optional.of(parts);
  }

  /**
   * A distributed table's partitioning and placement for the fragment planner: per shard the
   * endpoints of its alive copies (this node's first). The co-location group is the table at the
   * root of its {@code colocate_with} chain together with everything that must agree for rows of
   * one key to sit in the same shard (strategy, count, bounds, key type). Row counts are exact, at
   * most 30 s old.
   */
  public Optional<io.quiver.server.query.RemoteTables.Layout> layout(String table) {
    if (!cluster.hasRaft()) {
      return Optional.empty();
    }
    Optional<Definition> found = definitionForRead(table);
    if (found.isEmpty()) {
      return Optional.empty();
    }
    Definition d = found.get();
    Map<String, String> endpoints = endpoints();
    String self = endpoints.get(cluster.identity().nodeName());
    List<io.quiver.server.query.RemoteTables.ShardCopies> shards = new ArrayList<>();
    for (ShardPlacement.Shard shard : d.shards()) {
      List<String> alive = new ArrayList<>(shard.nodes().stream().map(endpoints::get).filter(e -> e != null).toList());
      if (self != null && alive.remove(self)) {
        alive.add(0, self);
      }
      shards.add(new io.quiver.server.query.RemoteTables.ShardCopies(shard.id(), d.shardTable(shard.id()), alive));
    }
    String root = d.name();
    Set<String> seen = new java.util.HashSet<>();
    for (Definition at = d; at.colocateWith() != null && seen.add(at.name()); ) {
      root = at.colocateWith();
      Optional<Definition> next = definitionForRead(root);
      if (next.isEmpty()) {
        break;
      }
      at = next.get();
    }
    String keyType = d.column() == null ? null : d.columns().get(d.column());
    String group = root + "|" + d.strategy() + "|" + d.numPartitions() + "|" + d.ranges() + "|" + keyType;
    return Optional.of(new io.quiver.server.query.RemoteTables.Layout(d.name(), d.columns(), d.column(), group,
        estimatedRows(d), "range".equals(d.strategy()),
        expr -> io.quiver.partitioning.ShardRouting.shardExpression(d.spec(), expr, keyType), shards));
  }

  /**
   * About how many rows a distributed table has, from the row estimates gossip carries for every
   * shard table (no call to any node); the exact count when gossip has none yet.
   */
  private long estimatedRows(Definition d) {
    Map<String, Long> perTable = new java.util.HashMap<>();
    for (NodeFacts f : cluster.liveFacts()) {
      for (NodeFacts.TableFact t : f.tables()) {
        perTable.merge(t.name(), t.approxRows(), Math::max);
      }
    }
    long total = 0;
    boolean known = false;
    for (ShardPlacement.Shard shard : d.shards()) {
      Long rows = perTable.get(d.shardTable(shard.id()));
      if (rows != null) {
        total += rows;
        known = true;
      }
    }
    if (known && total > 0) {
      return total;
    }
    try {
      return rowCount(d);
    } catch (QuiverException e) {
      return 0; // a shard without an alive copy: the planner's estimate only
    }
  }

  /**
   * The exact row count of a distributed table: each shard counted on this node's copy, or on its
   * first alive copy over Flight (only the count travels).
   */
  public long rowCount(Definition d) {
    Map<String, String> endpoints = endpoints();
    String self = cluster.identity().nodeName();
    long total = 0;
    for (ShardPlacement.Shard shard : d.shards()) {
      String sql = "SELECT count(*) FROM " + ArrowSchemas.quoteIdentifier(d.shardTable(shard.id()));
      if (shard.nodes().contains(self)) {
        try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement();
            ResultSet rs = s.executeQuery(sql)) {
          rs.next();
          total += rs.getLong(1);
        } catch (SQLException e) {
          throw DuckDbErrors.translate(e);
        }
        continue;
      }
      String node = shard.nodes().stream().filter(endpoints::containsKey).findFirst().orElseThrow(() ->
          new QuiverException(ErrorCode.REMOTE_ERROR, "shard " + shard.id() + " of " + d.name()
              + " has no alive copy (its nodes: " + String.join(", ", shard.nodes()) + ")"));
      total += remoteCount(endpoints.get(node), sql);
    }
    return total;
  }

  private long remoteCount(String endpoint, String sql) {
    List<Object> values = remoteColumn(endpoint, sql);
    return values.isEmpty() ? 0 : ((Number) values.get(0)).longValue();
  }

  /** The first column of a query's rows on another node. */
  private List<Object> remoteColumn(String endpoint, String sql) {
    try {
      FlightClient client = clients.get(endpoint);
      byte[] ticket = JSON.writeValueAsBytes(Map.of("query", sql));
      try (org.apache.arrow.flight.FlightStream stream = NodeCalls.detached(() -> client.getStream(
          new org.apache.arrow.flight.Ticket(ticket)))) {
        List<Object> out = new ArrayList<>();
        while (stream.next()) {
          for (int i = 0; i < stream.getRoot().getRowCount(); i++) {
            Object o = stream.getRoot().getVector(0).getObject(i);
            out.add(o instanceof org.apache.arrow.vector.util.Text t ? t.toString() : o);
          }
        }
        return out;
      }
    } catch (RuntimeException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "querying " + endpoint + " failed: " + e.getMessage(), e);
    } catch (Exception e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "cannot reach " + endpoint + ": " + e.getMessage(), e);
    }
  }


  /** The schema hash of a distributed table: the same digest a shard table of it has in gossip. */
  public String schemaHash(Definition d) {
    StringBuilder b = new StringBuilder();
    d.columns().forEach((name, type) -> b.append(b.length() == 0 ? "" : ",").append(name).append(' ').append(type));
    try {
      byte[] md5 = java.security.MessageDigest.getInstance("MD5").digest(b.toString().getBytes(
          java.nio.charset.StandardCharsets.UTF_8));
      return java.util.HexFormat.of().formatHex(md5).substring(0, 16);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Node name → Flight endpoint of the members gossip sees alive. */
  public Map<String, String> endpoints() {
    Map<String, String> m = new LinkedHashMap<>();
    for (NodeFacts f : cluster.liveFacts()) {
      m.put(f.nodeName(), f.flightEndpoint());
    }
    return m;
  }

  List<ShardPlacement.Shard> placement(PartitionSpec spec) {
    if (spec.colocateWith().isPresent()) {
      Definition other = definition(spec.colocateWith().get()).orElseThrow(() -> QuiverException.user(
          ErrorCode.INVALID_ARGUMENT, "config.colocate_with '%s' is not a distributed table", spec.colocateWith().get()));
      if (other.numPartitions() != spec.numPartitions() || !other.strategy().equals(spec.strategy())) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
            "config.colocate_with '%s' has %d %s partitions; a co-located table needs the same strategy and count",
            other.name(), other.numPartitions(), other.strategy());
      }
      return other.shards();
    }
    List<String> dataNodes = new ArrayList<>();
    for (GossipRegistry.Member m : cluster.members()) {
      if (m.status() == NodeStatus.ALIVE && m.facts().dataNode()) {
        dataNodes.add(m.facts().nodeName());
      }
    }
    return ShardPlacement.place(spec, dataNodes);
  }

  /** Runs a statement on a node: locally, or over Flight's {@code query} action. */
  void runOn(String node, Map<String, String> endpoints, String sql) {
    if (node.equals(cluster.identity().nodeName())) {
      try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement()) {
        s.execute(sql);
      } catch (SQLException e) {
        throw DuckDbErrors.translate(e);
      }
      return;
    }
    String endpoint = endpoints.get(node);
    if (endpoint == null) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "node " + node + " is not alive; cannot run: " + sql);
    }
    try {
      FlightClient client = clients.get(endpoint);
      byte[] body = JSON.writeValueAsBytes(Map.of("query", sql));
      Iterator<Result> results = NodeCalls.detached(() -> client.doAction(new Action("query", body)));
      while (results.hasNext()) {
        results.next();
      }
    } catch (RuntimeException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "node " + node + " refused '" + sql + "': " + e.getMessage(), e);
    } catch (Exception e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "cannot reach node " + node + ": " + e.getMessage(), e);
    }
  }

  private record Probe(String table, Map<String, String> columns) {}

  /** Runs the CREATE TABLE in a scratch in-memory database to learn the table's name and columns. */
  private static Probe probe(String createSql) {
    if (createSql == null || !createSql.trim().toUpperCase(java.util.Locale.ROOT).startsWith("CREATE TABLE")) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "create_sql must be a CREATE TABLE statement, got: %s",
          createSql);
    }
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
      s.execute(createSql);
      String table;
      try (ResultSet rs = s.executeQuery("SELECT table_name FROM duckdb_tables() WHERE NOT internal")) {
        if (!rs.next()) {
          throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "create_sql created no table");
        }
        table = rs.getString(1);
      }
      Map<String, String> columns = new LinkedHashMap<>();
      try (ResultSet rs = s.executeQuery("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '"
          + table.replace("'", "''") + "' ORDER BY column_index")) {
        while (rs.next()) {
          columns.put(rs.getString(1), rs.getString(2));
        }
      }
      return new Probe(table, columns);
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }
}
