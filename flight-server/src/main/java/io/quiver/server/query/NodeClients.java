package io.quiver.server.query;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.memory.BufferAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Flight client (one gRPC channel) per other node's endpoint, shared by every node-to-node
 * call of this node, so that a write or a control call does not pay for a new connection. A
 * channel reconnects by itself when its node comes back.
 */
public final class NodeClients implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(NodeClients.class);
  private final BufferAllocator allocator;
  private final Map<String, FlightClient> clients = new ConcurrentHashMap<>();
  private volatile boolean closed;

  public NodeClients(BufferAllocator allocator) {
    this.allocator = allocator;
  }

  /** The client for a node's {@code host:port} endpoint. */
  public FlightClient get(String endpoint) {
    if (closed) {
      throw new IllegalStateException("the node is shutting down");
    }
    return clients.computeIfAbsent(endpoint, e -> FlightClient.builder(allocator, NodeCalls.location(e)).build());
  }

  @Override
  public void close() {
    closed = true;
    for (FlightClient c : clients.values()) {
      try {
        c.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        LOG.debug("closing a node client failed", e);
      }
    }
    clients.clear();
  }
}
