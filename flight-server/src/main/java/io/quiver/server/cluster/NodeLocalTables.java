package io.quiver.server.cluster;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.server.query.RemoteTables;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Node-local tables as the fragment planners see them: a table that one data node holds (this one
 * or another, as gossip lists it), read whole by every fragment, like a replicated table with a
 * single copy. Its columns come from a DESCRIBE here or from the holding node's Arrow schema
 * (kept per node, name and schema hash); its rows from gossip. A name that several data nodes
 * hold has no layout: each node would read its own.
 */
public final class NodeLocalTables {
  private static final Logger LOG = LoggerFactory.getLogger(NodeLocalTables.class);
  private static final int KEPT = 256;

  private final ClusterService cluster;
  private final DuckDbEngine engine;
  private final BufferAllocator allocator;
  private final Map<String, Map<String, String>> columns = io.quiver.server.query.Lru.of(KEPT);

  public NodeLocalTables(ClusterService cluster, DuckDbEngine engine, BufferAllocator allocator) {
    this.cluster = cluster;
    this.engine = engine;
    this.allocator = allocator;
  }

  /** The layout of node-local table {@code name}, or empty when no single data node holds one by that name. */
  public Optional<RemoteTables.Layout> layout(String name) {
    Optional<ClusterService.TableOnNode> on = cluster.tableOnNode(name);
    if (on.isEmpty()) {
      return Optional.empty();
    }
    ClusterService.TableOnNode t = on.get();
    String table = t.fact().name();
    String key = t.endpoint() + '\u0000' + table + '\u0000' + t.fact().schemaHash();
    Map<String, String> cols = columns.get(key);
    if (cols == null) {
      try {
        cols = t.self() ? describeHere(table) : describeThere(table, t.endpoint());
      } catch (SQLException | RuntimeException e) {
        LOG.debug("no layout for node-local table {} on {}: {}", table, t.endpoint(), e.toString());
        return Optional.empty();
      }
      columns.put(key, cols);
    }
    return Optional.of(new RemoteTables.Layout(table, cols, null, "node-local|" + t.endpoint() + "|" + table,
        t.fact().approxRows(), false, java.util.function.UnaryOperator.identity(), List.of(
            new RemoteTables.ShardCopies(0, table, List.of(t.endpoint())))));
  }

  private Map<String, String> describeHere(String table) throws SQLException {
    Map<String, String> out = new LinkedHashMap<>();
    String qualified = String.join(".", java.util.Arrays.stream(table.split("\\.", 2))
        .map(ArrowSchemas::quoteIdentifier).toList());
    try (DuckDBConnection c = engine.newConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("DESCRIBE " + qualified)) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    }
    return out;
  }

  private Map<String, String> describeThere(String table, String endpoint) throws SQLException {
    try (DuckDBConnection c = engine.newConnection()) {
      return RemoteTables.columnsOf(c, new RemoteTables.Part(table, endpoint), allocator);
    }
  }
}
