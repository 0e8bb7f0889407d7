package io.quiver.catalog.cluster;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What one node publishes about itself over gossip. Immutable; a node publishes a new value with a
 * higher {@code version} whenever something changes, and re-publishes it as its heartbeat.
 */
public record NodeFacts(
    String nodeId,
    String nodeName,
    String gossipAddr,
    List<String> roles,
    boolean dataNode,
    String flightEndpoint,
    List<ServiceFact> services,
    List<TableFact> tables,
    int activeQueries,
    Map<String, String> keys,
    long startedAtMillis,
    long version) {

  public NodeFacts {
    Objects.requireNonNull(nodeId, "nodeId");
    roles = List.copyOf(roles);
    services = List.copyOf(services);
    tables = List.copyOf(tables);
    keys = Map.copyOf(keys);
  }

  /** A service a node runs (its Flight server, or one registered by {@code trex_db_register_service}). */
  public record ServiceFact(String name, String host, int port, String status, long startedAtMillis, String config) {}

  /** A local table a node holds. */
  public record TableFact(String name, long approxRows, String schemaHash) {}
}
