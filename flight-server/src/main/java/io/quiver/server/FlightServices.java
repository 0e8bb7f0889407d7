package io.quiver.server;

import io.quiver.catalog.cluster.NodeFacts.ServiceFact;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.sql.SessionOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.arrow.flight.FlightProducer;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.ServerSessionMiddleware;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The node's Flight servers: the main one it was started with, and extra endpoints started at
 * run time ({@code trex_db_flight_start}, {@code trex_db_start_service('flight', ...)}) that serve
 * the same data and SQL on another address or port.
 */
public final class FlightServices implements AutoCloseable {
  /** One running Flight server. */
  public record Endpoint(String host, int port, long startedAtMillis, boolean main) {}

  private final BufferAllocator allocator;
  private final FlightProducer producer;
  private final Endpoint main;
  private final Map<String, FlightServer> extra = new LinkedHashMap<>();
  private final Map<String, Endpoint> extraEndpoints = new LinkedHashMap<>();

  FlightServices(BufferAllocator allocator, FlightProducer producer, Endpoint main) {
    this.allocator = allocator;
    this.producer = producer;
    this.main = main;
  }

  static FlightServer build(BufferAllocator allocator, FlightProducer producer, String host, int port) {
    return FlightServer.builder(allocator, Location.forGrpcInsecure(host, port), producer)
        .middleware(SessionOptions.KEY, new ServerSessionMiddleware.Factory(() -> UUID.randomUUID().toString()))
        .build();
  }

  public synchronized String start(String host, int port) {
    if (host == null || host.isBlank() || port < 1 || port > 65_535) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "a Flight server needs a host and a port in 1-65535");
    }
    String key = host + ":" + port;
    if (extraEndpoints.containsKey(key) || (main.host().equals(host) && main.port() == port)) {
      throw QuiverException.user(ErrorCode.ALREADY_EXISTS, "a Flight server already runs on %s", key);
    }
    FlightServer server = build(allocator, producer, host, port);
    try {
      server.start();
    } catch (IOException e) {
      throw new QuiverException(ErrorCode.IO_ERROR, "cannot start a Flight server on " + key + ": " + e.getMessage(), e);
    }
    extra.put(key, server);
    extraEndpoints.put(key, new Endpoint(host, port, System.currentTimeMillis(), false));
    return "Flight server started on " + key;
  }

  public synchronized String stop(String host, int port) {
    String key = host + ":" + port;
    if (main.host().equals(host) && main.port() == port) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
          "%s is this node's main Flight endpoint; it stops with the node (./quiver stop)", key);
    }
    FlightServer server = extra.remove(key);
    if (server == null) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "no Flight server started with trex_db_flight_start runs on %s",
          key);
    }
    extraEndpoints.remove(key);
    shutdown(server);
    return "Flight server on " + key + " stopped";
  }

  /** Stops every extra server; returns how many. */
  public synchronized int stopAllExtra() {
    int n = extra.size();
    extra.values().forEach(FlightServices::shutdown);
    extra.clear();
    extraEndpoints.clear();
    return n;
  }

  public synchronized List<Endpoint> endpoints() {
    List<Endpoint> all = new ArrayList<>();
    all.add(main);
    all.addAll(extraEndpoints.values());
    return all;
  }

  /** The servers as gossip advertises them. */
  public List<ServiceFact> serviceFacts() {
    List<ServiceFact> out = new ArrayList<>();
    for (Endpoint e : endpoints()) {
      out.add(new ServiceFact("flight", e.host(), e.port(), "running", e.startedAtMillis(),
          e.main() ? "{\"main\":true}" : "{\"main\":false}"));
    }
    return out;
  }

  private static void shutdown(FlightServer server) {
    try {
      server.shutdown();
      server.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
      server.close();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public synchronized void close() {
    stopAllExtra();
  }
}
