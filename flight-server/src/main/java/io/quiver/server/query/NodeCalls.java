package io.quiver.server.query;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightGrpcUtils;
import org.apache.arrow.flight.Location;
import org.apache.arrow.memory.BufferAllocator;

/** Calls from this node to another node's Flight server. */
public final class NodeCalls {
  /** One gRPC channel per endpoint, shared by the per-query clients ({@link #client}); idle ones disconnect. */
  private static final Map<String, ManagedChannel> CHANNELS = new ConcurrentHashMap<>();

  private NodeCalls() {}

  /**
   * A Flight client for {@code endpoint} that allocates from {@code allocator} (a query's budget)
   * over a channel shared with every other call to that endpoint: a query does not pay for a new
   * connection per shard. Closing the client leaves the channel open.
   */
  public static FlightClient client(BufferAllocator allocator, String endpoint) {
    ManagedChannel channel = CHANNELS.computeIfAbsent(endpoint, e -> {
      int colon = e.lastIndexOf(':');
      try {
        return NettyChannelBuilder.forAddress(e.substring(0, colon), Integer.parseInt(e.substring(colon + 1)))
            .usePlaintext().maxInboundMessageSize(Integer.MAX_VALUE).idleTimeout(60, TimeUnit.SECONDS).build();
      } catch (RuntimeException ex) {
        throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "'" + e + "' is not a host:port endpoint", ex);
      }
    });
    return FlightGrpcUtils.createFlightClientWithSharedChannel(allocator, channel);
  }

  /** The location of a node's Flight endpoint as gossip advertises it ({@code host:port}). */
  public static Location location(String endpoint) {
    int colon = endpoint.lastIndexOf(':');
    try {
      return Location.forGrpcInsecure(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)));
    } catch (RuntimeException e) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "'" + endpoint + "' is not a host:port endpoint", e);
    }
  }

  /**
   * Runs an outgoing call outside the gRPC context of the incoming call being served; otherwise
   * the outgoing call is cancelled as soon as the incoming one returns.
   */
  public static <T> T detached(Callable<T> call) {
    try {
      return io.grpc.Context.ROOT.call(call);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
